"""The circuit breaker (state shared through Redis) and the backoff policy."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from payments.connectors import registry
from payments.connectors.base import AuthorizeRequest, Outcome, RawCard
from payments.connectors.circuit import CircuitBreaker, CircuitPolicy, CircuitState
from payments.connectors.retry import RetryPolicy
from tests.payments.connectors.conftest import CIRCUIT


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def breaker() -> CircuitBreaker:
    clock = FakeClock()
    policy = CircuitPolicy(failure_threshold=3, window_seconds=10, cooldown_seconds=5, probe_timeout_seconds=20)
    b = CircuitBreaker(f"test_{uuid.uuid4().hex[:8]}", policy, clock=clock)
    b.clock = clock  # type: ignore[attr-defined]
    yield b
    b.reset()


def test_the_circuit_opens_after_n_failures_and_fails_fast(breaker):
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state() is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state() is CircuitState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker):
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state() is CircuitState.CLOSED


def test_half_open_lets_exactly_one_probe_through_and_a_success_closes(breaker):
    for _ in range(3):
        breaker.record_failure()
    breaker.clock.now += 5
    assert breaker.state() is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # another worker, same moment: still failing fast
    breaker.record_success()
    assert breaker.state() is CircuitState.CLOSED
    assert breaker.allow()


def test_a_failed_probe_opens_the_circuit_for_another_cool_down(breaker):
    for _ in range(3):
        breaker.record_failure()
    breaker.clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state() is CircuitState.OPEN
    breaker.clock.now += 4.9
    assert not breaker.allow()
    breaker.clock.now += 0.1
    assert breaker.allow()


def test_the_state_is_shared_by_every_breaker_instance_of_one_provider(breaker):
    other = CircuitBreaker(breaker.name, breaker.policy, clock=breaker.clock)
    for _ in range(3):
        breaker.record_failure()
    assert other.state() is CircuitState.OPEN


def _authorize(name: str, number: str = "4242424242424242") -> Outcome:
    connector = registry.connector_get(name)
    reference = f"att_{uuid.uuid4().hex[:12]}"
    try:
        token = connector.tokenize(
            RawCard(number=number, exp_month=12, exp_year=2099, cvc="123"), idempotency_key=f"tok_{reference}"
        ).token
    except Exception:
        token = "tok_unavailable"
    request = AuthorizeRequest(reference=reference, idempotency_key=reference, amount=1000, currency="usd", token=token)
    return connector.authorize(request).outcome


@pytest.mark.usefixtures("psp")
def test_a_provider_outage_opens_its_circuit_which_half_opens_and_recovers(psp):
    psp.control("/faults", {"provider": "card_a", "outage": True})
    outcomes = [_authorize("card_a") for _ in range(4)]
    # tokenize + authorize both count: the circuit is open within the threshold, then calls never leave.
    assert Outcome.NOT_SENT in outcomes
    assert outcomes[-1] is Outcome.NOT_SENT
    breaker = registry.breaker_get("card_a")
    assert breaker.state() is CircuitState.OPEN
    seen = len(psp.control_get("/events")["data"])
    assert _authorize("card_a") is Outcome.NOT_SENT
    assert len(psp.control_get("/events")["data"]) == seen
    # The other acquirer is unaffected (its own circuit), which is what failover relies on.
    assert _authorize("card_b") is Outcome.SUCCEEDED
    psp.control("/reset")
    time.sleep(CIRCUIT["cooldown_seconds"] + 0.05)
    assert breaker.state() is CircuitState.HALF_OPEN
    assert _authorize("card_a") is Outcome.SUCCEEDED
    assert breaker.state() is CircuitState.CLOSED


@pytest.mark.usefixtures("psp")
def test_declines_never_open_the_circuit():
    for _ in range(CIRCUIT["failure_threshold"] + 2):
        assert _authorize("card_a", "4000000000000002") is Outcome.FAILED
    assert registry.breaker_get("card_a").state() is CircuitState.CLOSED


def test_backoff_is_exponential_with_full_jitter_bounded_and_deterministic_when_seeded():
    policy = RetryPolicy(max_attempts=6, base_seconds=1, cap_seconds=8)
    assert [policy.ceiling(n) for n in range(1, 6)] == [1, 2, 4, 8, 8]
    first = [policy.delay(n, random.Random(42)) for n in range(1, 6)]  # noqa: S311 - jitter, not secrets
    again = [policy.delay(n, random.Random(42)) for n in range(1, 6)]  # noqa: S311 - jitter
    assert first == again
    assert all(0 <= d <= policy.ceiling(n) for n, d in enumerate(first, start=1))
    assert policy.delay(6) is None


def test_backoff_spreads_retries():
    policy = RetryPolicy(max_attempts=10, base_seconds=1, cap_seconds=60)
    rng = random.Random(7)  # noqa: S311 - jitter, not secrets
    delays = {round(policy.delay(5, rng), 3) for _ in range(50)}
    assert len(delays) > 40
