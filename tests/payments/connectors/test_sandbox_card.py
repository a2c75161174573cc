"""The card connector against the live sandbox over HTTP: every operation, declines, and what failures mean."""

from __future__ import annotations

import uuid

import httpx
import pytest

from payments.connectors import registry
from payments.connectors.base import (
    AmountMismatchError,
    AuthorizeRequest,
    CaptureRequest,
    CardRejectedError,
    Outcome,
    ProviderState,
    RawCard,
    RefundRequest,
    VoidRequest,
)
from payments.connectors.http import ProviderHttp
from payments.connectors.sandbox_card import SandboxCardConnector
from tests.processes import free_port

pytestmark = pytest.mark.usefixtures("psp")


def card(number: str = "4242424242424242", cvc: str = "123") -> RawCard:
    return RawCard(number=number, exp_month=12, exp_year=2099, cvc=cvc)


def authorize(
    name: str = "card_a", number: str = "4242424242424242", amount: int = 1000, *, capture: bool = True, **kw: str
) -> tuple[AuthorizeRequest, object]:
    connector = registry.connector_get(name)
    token = connector.tokenize(card(number), idempotency_key=f"tok_{uuid.uuid4().hex}").token
    request = AuthorizeRequest(
        reference=kw.get("reference", f"att_{uuid.uuid4().hex[:12]}"),
        idempotency_key=kw.get("idempotency_key", uuid.uuid4().hex),
        amount=amount,
        currency="usd",
        token=token,
        capture=capture,
    )
    return request, connector.authorize(request)


def test_tokenize_returns_the_card_summary_and_never_the_number():
    result = registry.connector_get("card_a").tokenize(card(), idempotency_key="tok-1")
    assert result.token.startswith("tok_")
    assert (result.card.brand, result.card.last4, result.card.exp_year) == ("visa", "4242", 2099)
    assert "4242424242424242" not in repr(card())


def test_tokenize_rejects_a_bad_number_with_the_providers_code():
    with pytest.raises(CardRejectedError) as info:
        registry.connector_get("card_a").tokenize(card("4242424242424241"), idempotency_key="tok-2")
    assert info.value.code == "invalid_number"


def test_authorize_with_capture_succeeds_with_the_providers_fee(psp):
    request, result = authorize(amount=1000)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.state is ProviderState.CAPTURED
    assert (result.amount, result.amount_captured, result.fee, result.currency) == (1000, 1000, 59, "usd")
    assert result.provider_reference.startswith("ch_")
    assert result.reference == request.reference
    assert result.card.last4 == "4242"
    assert "token" not in result.raw
    assert [r["kind"] for r in psp.records(reference=request.reference)] == ["charge", "capture"]


@pytest.mark.parametrize(
    ("number", "decline_code", "retryable"),
    [
        ("4000000000000002", "generic_decline", False),
        ("4000000000009995", "insufficient_funds", False),
        ("4000000000000069", "expired_card", False),
        ("4000000000000127", "incorrect_cvc", False),
        ("4000000000000119", "processing_error", True),
    ],
)
def test_each_decline_is_a_failed_outcome_with_its_code(psp, number, decline_code, retryable):
    request, result = authorize(number=number)
    assert result.outcome is Outcome.FAILED
    assert result.state is ProviderState.FAILED
    assert result.decline_code == decline_code
    assert result.retryable is retryable
    assert result.decline_message
    assert result.provider_reference.startswith("ch_")
    assert psp.records(reference=request.reference) == []


def test_manual_capture_partial_then_refund():
    connector = registry.connector_get("card_b")
    request, auth = authorize("card_b", amount=3000, capture=False)
    assert (auth.outcome, auth.state, auth.amount_captured, auth.fee) == (
        Outcome.SUCCEEDED,
        ProviderState.AUTHORIZED,
        0,
        0,
    )
    captured = connector.capture(
        CaptureRequest(
            reference=request.reference,
            idempotency_key="cap-1",
            provider_reference=auth.provider_reference,
            amount=2000,
            currency="usd",
        )
    )
    assert (captured.outcome, captured.state, captured.amount_captured, captured.fee) == (
        Outcome.SUCCEEDED,
        ProviderState.CAPTURED,
        2000,
        88,
    )
    refund = connector.refund(
        RefundRequest(
            reference="re_test_1",
            idempotency_key="ref-1",
            provider_reference=auth.provider_reference,
            amount=500,
            currency="usd",
        )
    )
    assert (refund.outcome, refund.state, refund.amount) == (Outcome.SUCCEEDED, ProviderState.SUCCEEDED, 500)
    looked_up = connector.status("re_test_1", kind="refund")
    assert (looked_up.outcome, looked_up.provider_reference) == (Outcome.SUCCEEDED, refund.provider_reference)


def test_capture_twice_is_refused_not_applied_twice():
    connector = registry.connector_get("card_a")
    request, auth = authorize(capture=False)
    capture = CaptureRequest(
        reference=request.reference,
        idempotency_key="cap-a",
        provider_reference=auth.provider_reference,
        amount=1000,
        currency="usd",
    )
    assert connector.capture(capture).outcome is Outcome.SUCCEEDED
    # The same key replays the first answer; a new key is refused by the provider.
    assert connector.capture(capture).outcome is Outcome.SUCCEEDED
    again = connector.capture(CaptureRequest(**{**capture.__dict__, "idempotency_key": "cap-b"}))
    assert (again.outcome, again.decline_code) == (Outcome.FAILED, "charge_already_captured")


def test_void_releases_an_authorization(psp):
    connector = registry.connector_get("card_a")
    request, auth = authorize(amount=1500, capture=False)
    voided = connector.void(
        VoidRequest(
            reference=request.reference,
            idempotency_key="void-1",
            provider_reference=auth.provider_reference,
            amount=1500,
            currency="usd",
        )
    )
    assert (voided.outcome, voided.state) == (Outcome.SUCCEEDED, ProviderState.VOIDED)
    assert [r["kind"] for r in psp.records(reference=request.reference)] == ["charge", "void"]


def test_status_of_a_reference_the_provider_never_saw_is_not_found():
    result = registry.connector_get("card_a").status("att_never_sent")
    assert result.outcome is Outcome.NOT_FOUND
    assert not result.provider_reference


def test_a_timeout_is_unknown_and_status_then_proves_nothing_happened(psp):
    psp.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 4})
    request, result = authorize()
    assert result.outcome is Outcome.UNKNOWN
    assert result.error.startswith("timeout")
    assert registry.connector_get("card_a").status(request.reference).outcome is Outcome.NOT_FOUND


def test_a_timeout_after_the_charge_applied_is_found_by_status(psp):
    psp.control(
        "/faults/next",
        {"provider": "card_a", "operation": "authorize", "mode": "timeout", "seconds": 4, "apply": True},
    )
    request, result = authorize()
    assert result.outcome is Outcome.UNKNOWN
    found = registry.connector_get("card_a").status(request.reference, expected_amount=1000)
    assert (found.outcome, found.state) == (Outcome.SUCCEEDED, ProviderState.CAPTURED)


@pytest.mark.parametrize("how", ["drop", "502"])
def test_a_lost_response_is_unknown_and_a_retry_with_the_same_key_returns_the_one_charge(psp, how):
    psp.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "lose_response", "how": how})
    request, lost = authorize()
    assert lost.outcome is Outcome.UNKNOWN
    connector = registry.connector_get("card_a")
    found = connector.status(request.reference)
    assert (found.outcome, found.state) == (Outcome.SUCCEEDED, ProviderState.CAPTURED)
    replayed = connector.authorize(request)
    assert replayed.provider_reference == found.provider_reference
    assert [r["kind"] for r in psp.records(reference=request.reference)] == ["charge", "capture"]


def test_a_5xx_is_unknown_never_failed(psp):
    psp.control("/faults/next", {"provider": "card_a", "operation": "authorize", "mode": "error", "status": 500})
    _, result = authorize()
    assert (result.outcome, result.http_status) == (Outcome.UNKNOWN, 500)


def test_a_refused_connection_is_not_sent():
    connector = SandboxCardConnector(
        name="card_x",
        base_url=f"http://127.0.0.1:{free_port()}/card_a",
        api_key="k",
        webhook_secret="s",
        connect_timeout=1.0,
    )
    request = AuthorizeRequest(
        reference="att_x", idempotency_key="k1", amount=1000, currency="usd", token="tok_x", capture=True
    )
    result = connector.authorize(request)
    assert result.outcome is Outcome.NOT_SENT
    assert not result.reached_provider


def test_a_wrong_api_key_is_not_sent(psp):
    connector = SandboxCardConnector(
        name="card_a_bad_key", base_url=f"{psp.url}/card_a", api_key="wrong", webhook_secret="s"
    )
    assert connector.status("att_1").outcome is Outcome.NOT_SENT


def _fake_provider(charge: dict[str, object]) -> SandboxCardConnector:
    """A connector whose provider answers ``charge`` to everything: provider misbehaviour the sandbox cannot do."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=charge)

    http = ProviderHttp(
        name="card_fake",
        base_url="http://provider.invalid",
        api_key="k",
        connect_timeout=1,
        read_timeout=1,
        transport=httpx.MockTransport(handler),
    )
    return SandboxCardConnector(
        name="card_fake", base_url="http://provider.invalid", api_key="k", webhook_secret="s", http=http
    )


@pytest.mark.parametrize(
    "charge",
    [
        {
            "id": "ch_1",
            "reference": "att_1",
            "status": "captured",
            "amount": 999,
            "amount_captured": 999,
            "currency": "usd",
        },
        {
            "id": "ch_1",
            "reference": "att_1",
            "status": "captured",
            "amount": 1000,
            "amount_captured": 1000,
            "currency": "eur",
        },
        {
            "id": "ch_1",
            "reference": "att_1",
            "status": "authorized",
            "amount": 1000,
            "amount_captured": 0,
            "currency": "usd",
        },
    ],
)
def test_an_amount_the_provider_did_not_get_from_us_is_never_accepted(charge):
    request = AuthorizeRequest(reference="att_1", idempotency_key="k", amount=1000, currency="usd", token="tok_1")
    with pytest.raises(AmountMismatchError) as info:
        _fake_provider(charge).authorize(request)
    assert info.value.expected == 1000
