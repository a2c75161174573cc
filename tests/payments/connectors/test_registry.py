"""Connectors and routes come from settings; each provider has its own queue, and run_platform consumes them all."""

from __future__ import annotations

import pytest

from core.management.commands.run_platform import platform_processes
from payments.connectors import registry
from payments.connectors.sandbox_card import SandboxCardConnector
from payments.connectors.sandbox_upi import SandboxUpiConnector
from payments.enums import PaymentMethodType


def test_two_card_acquirers_are_one_class_with_their_own_paths_keys_and_secrets(settings):
    card_a, card_b = registry.connector_get("card_a"), registry.connector_get("card_b")
    assert type(card_a) is type(card_b) is SandboxCardConnector
    assert card_a.base_url == settings.PSP_CONNECTORS["card_a"]["base_url"]
    assert card_a.base_url.endswith("/card_a")
    assert card_b.base_url.endswith("/card_b")
    assert settings.PSP_CONNECTORS["card_a"]["api_key"] != settings.PSP_CONNECTORS["card_b"]["api_key"]
    assert card_a._webhook_secret != card_b._webhook_secret
    assert isinstance(registry.connector_get("upi"), SandboxUpiConnector)
    assert registry.connector_get("upi").method is PaymentMethodType.UPI


def test_routes_are_ordered_per_method_and_overridable():
    assert registry.route_for("card") == ["card_a", "card_b"]
    assert registry.route_for("upi") == ["upi"]
    assert registry.route_for("card", overrides={"card": ["card_b"]}) == ["card_b"]
    with pytest.raises(registry.UnknownConnectorError):
        registry.route_for("card", overrides={"card": ["nope"]})


def test_each_provider_has_its_own_queue_and_run_platform_starts_a_worker_on_each():
    assert registry.psp_queues() == ["psp.card_a", "psp.card_b", "psp.card_c", "psp.upi"]
    processes = platform_processes(host="127.0.0.1", port=8000)
    for queue in registry.psp_queues():
        command = processes[queue.replace(".", "-")]
        assert f"--queues {queue}" in command
    assert "--queues celery" in processes["worker"]


def test_a_settings_change_rebuilds_the_connectors(settings):
    before = registry.connector_get("card_a")
    settings.PSP_CONNECTORS = {
        **settings.PSP_CONNECTORS,
        "card_a": {**settings.PSP_CONNECTORS["card_a"], "base_url": "http://x/card_a"},
    }
    after = registry.connector_get("card_a")
    assert after is not before
    assert after.base_url == "http://x/card_a"
