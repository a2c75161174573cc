"""The UPI connector against the live sandbox: intent and collect, the payer's answers, expiry, late success."""

from __future__ import annotations

import uuid

import pytest

from payments.connectors import registry
from payments.connectors.base import (
    CaptureRequest,
    Outcome,
    ProviderState,
    RefundRequest,
    UnsupportedOperationError,
    UpiCollectRequest,
    UpiIntentRequest,
)

pytestmark = pytest.mark.usefixtures("psp")


def intent(amount: int = 12345, **kw: object) -> tuple[UpiIntentRequest, object]:
    request = UpiIntentRequest(
        reference=f"att_{uuid.uuid4().hex[:12]}", idempotency_key=uuid.uuid4().hex, amount=amount, **kw
    )
    return request, registry.connector_get("upi").authorize(request)


def test_an_intent_waits_for_the_payer_with_a_upi_uri_for_exactly_our_amount():
    request, result = intent(12345, description="Order 9")
    assert (result.outcome, result.state) == (Outcome.REQUIRES_ACTION, ProviderState.PENDING)
    action = result.next_action
    assert action.type == "upi_intent"
    assert action.upi_uri.startswith("upi://pay?")
    assert "am=123.45" in action.upi_uri
    assert f"tr={request.reference}" in action.upi_uri
    assert action.expires_at is not None
    assert action.extra["sandbox_approve_url"].endswith("/pay")


def test_the_payer_approves_and_status_reports_the_money_moved_with_rrn(psp):
    request, created = intent(10000)
    psp.http.post(f"/upi/v1/transactions/{created.provider_reference}/approve", json={"payer_vpa": "asha@okbank"})
    result = registry.connector_get("upi").status(request.reference, expected_amount=10000, expected_currency="inr")
    assert (result.outcome, result.state) == (Outcome.SUCCEEDED, ProviderState.CAPTURED)
    assert len(result.rrn) == 12
    assert (result.amount_captured, result.fee, result.payer_vpa) == (10000, 30, "asha@okbank")
    assert not result.late_success


def test_the_payer_declines(psp):
    request, created = intent()
    psp.http.post(f"/upi/v1/transactions/{created.provider_reference}/decline", json={})
    result = registry.connector_get("upi").status(request.reference)
    assert (result.outcome, result.state, result.decline_code) == (
        Outcome.FAILED,
        ProviderState.FAILED,
        "payer_declined",
    )


def test_an_unanswered_intent_expires(psp):
    request, _ = intent(expires_in=300)
    psp.advance(301)
    result = registry.connector_get("upi").status(request.reference)
    assert (result.outcome, result.state, result.decline_code) == (Outcome.FAILED, ProviderState.EXPIRED, "expired")


def test_a_deemed_success_after_expiry_is_reported_as_late_success(psp):
    request, _ = intent(metadata={"sandbox_payer_vpa": "deemed@upi"}, expires_in=300)
    psp.advance(301)
    assert registry.connector_get("upi").status(request.reference).state is ProviderState.EXPIRED
    psp.advance(61)
    result = registry.connector_get("upi").status(request.reference)
    assert (result.outcome, result.state, result.late_success) == (Outcome.SUCCEEDED, ProviderState.CAPTURED, True)


def test_a_collect_request_waits_then_succeeds_and_refunds_back(psp):
    connector = registry.connector_get("upi")
    reference = f"att_{uuid.uuid4().hex[:12]}"
    created = connector.authorize(
        UpiCollectRequest(reference=reference, idempotency_key=uuid.uuid4().hex, amount=5000, vpa="success@upi")
    )
    assert (created.outcome, created.next_action.type, created.next_action.upi_uri) == (
        Outcome.REQUIRES_ACTION,
        "upi_collect",
        None,
    )
    psp.advance(3)
    assert connector.status(reference).outcome is Outcome.SUCCEEDED
    refund = connector.refund(
        RefundRequest(
            reference=f"re_{reference}",
            idempotency_key=uuid.uuid4().hex,
            provider_reference=created.provider_reference,
            amount=5000,
            currency="inr",
        )
    )
    assert (refund.outcome, refund.state) == (Outcome.PENDING, ProviderState.PENDING)
    psp.advance(6)
    assert connector.status(f"re_{reference}", kind="refund").state is ProviderState.SUCCEEDED


def test_a_collect_to_an_unknown_vpa_fails():
    result = registry.connector_get("upi").authorize(
        UpiCollectRequest(reference="att_vpa", idempotency_key="k-vpa", amount=5000, vpa="notfound@upi")
    )
    assert (result.outcome, result.decline_code) == (Outcome.FAILED, "vpa_not_found")


def test_upi_has_no_separate_capture():
    with pytest.raises(UnsupportedOperationError):
        registry.connector_get("upi").capture(
            CaptureRequest(reference="a", idempotency_key="k", provider_reference="upi_1", amount=1, currency="inr")
        )


def test_a_card_request_is_refused_by_the_upi_connector():
    from payments.connectors.base import AuthorizeRequest

    with pytest.raises(TypeError):
        registry.connector_get("upi").authorize(
            AuthorizeRequest(reference="a", idempotency_key="k", amount=100, currency="inr", token="tok")
        )
