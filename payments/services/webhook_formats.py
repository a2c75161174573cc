"""The shapes a webhook delivery can take, one per ``WebhookEndpoint.format``.

The platform's own format is built in. Another one (Stripe's, from ``stripe_api``) registers itself when its app
is ready, so payments never imports the layer that translates it: the delivery asks this registry for the body
and the name of the signature header (the signature scheme is the same for all).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from ledgerline.webhooks import SIGNATURE_HEADER
from payments.enums import WebhookEndpointFormat
from payments.models import Event
from payments.services.events import event_payload

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WebhookFormat:
    render: Callable[[Event], dict[str, Any]]
    signature_header: str


_FORMATS: dict[str, WebhookFormat] = {
    WebhookEndpointFormat.LEDGERLINE: WebhookFormat(render=event_payload, signature_header=SIGNATURE_HEADER),
}


def webhook_format_register(name: str, webhook_format: WebhookFormat) -> None:
    _FORMATS[name] = webhook_format


def webhook_format_body(event: Event, name: str) -> tuple[bytes, str]:
    """The delivery's body and its signature header's name, for an endpoint of format ``name``."""
    webhook_format = _FORMATS.get(name)
    if webhook_format is None:
        # Only when the app that renders it is not installed: better the platform's shape than no delivery.
        logger.warning("webhook_format_unknown", format=name, event_id=event.id)
        webhook_format = _FORMATS[WebhookEndpointFormat.LEDGERLINE]
    body = json.dumps(webhook_format.render(event), separators=(",", ":")).encode()
    return body, webhook_format.signature_header
