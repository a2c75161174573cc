"""Connectors by name, built once per process from ``settings.PSP_CONNECTORS``; routes from ``PSP_ROUTING``."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from payments.connectors.base import Connector
from payments.connectors.circuit import CircuitBreaker, CircuitPolicy
from payments.connectors.http import ProviderTls


class UnknownConnectorError(LookupError):
    pass


_connectors: dict[str, Connector] = {}
_lock = threading.Lock()


def _config(name: str) -> dict[str, Any]:
    try:
        return dict(settings.PSP_CONNECTORS[name])
    except KeyError as exc:
        raise UnknownConnectorError(f"no connector {name!r} in PSP_CONNECTORS") from exc


def breaker_get(name: str) -> CircuitBreaker:
    circuit = _config(name).get("circuit") or {}
    return CircuitBreaker(name, CircuitPolicy(**circuit))


def connector_get(name: str) -> Connector:
    connector = _connectors.get(name)
    if connector is not None:
        return connector
    with _lock:
        if name not in _connectors:
            config = _config(name)
            cls = import_string(config["class"])
            tls = ProviderTls(**(config.get("tls") or {}))
            _connectors[name] = cls(
                name=name,
                base_url=config["base_url"],
                api_key=config["api_key"],
                webhook_secret=config["webhook_secret"],
                connect_timeout=float(config.get("connect_timeout", 2.0)),
                read_timeout=float(config.get("read_timeout", 10.0)),
                breaker=breaker_get(name),
                # Only when configured, so a connector class written without TLS options keeps working.
                **({"tls": tls} if tls else {}),
            )
        return _connectors[name]


def connector_names() -> list[str]:
    return list(settings.PSP_CONNECTORS)


def route_for(method: str, *, overrides: dict[str, list[str]] | None = None) -> list[str]:
    """The connectors to try, in order, for a payment method (a merchant's own routing wins when given)."""
    routing = {**settings.PSP_ROUTING, **(overrides or {})}
    names = list(routing.get(method, []))
    for name in names:
        _config(name)
    return names


def queue_for(name: str) -> str:
    """The Celery queue that runs this connector's calls (its bulkhead)."""
    return str(_config(name).get("queue") or f"psp.{name}")


def psp_queues() -> list[str]:
    return [queue_for(name) for name in connector_names()]


@receiver(setting_changed)
def _forget_connectors(*, setting: str, **_: Any) -> None:
    if setting in ("PSP_CONNECTORS", "SANDBOX_URL"):
        registry_reset()


def registry_reset() -> None:
    with _lock:
        for connector in _connectors.values():
            http = getattr(connector, "http", None)
            if http is not None:
                http.close()
        _connectors.clear()
