"""``POST /psp/webhooks/<connector>``: provider callbacks, verified, stored once, applied by a task, acked fast."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.api.errors import error_body
from payments.connectors import registry
from payments.connectors.base import WebhookVerificationError
from payments.services.provider_events import ProviderEventConflictError, provider_event_record

logger = structlog.get_logger(__name__)


@csrf_exempt
@require_POST
def provider_event_receive(request: HttpRequest, connector: str) -> JsonResponse:
    if connector not in registry.connector_names():
        return JsonResponse(
            error_body(type_="invalid_request_error", code="unknown_connector", message="No such connector"), status=404
        )
    body = request.body
    try:
        event = registry.connector_get(connector).verify_webhook(body, request.headers)
    except WebhookVerificationError as exc:
        logger.warning(
            "provider_event_rejected", connector=connector, reason=str(exc), remote=request.META.get("REMOTE_ADDR")
        )
        return JsonResponse(
            error_body(type_="invalid_request_error", code="signature_invalid", message=str(exc)), status=400
        )
    try:
        recorded = provider_event_record(event=event, body=body)
    except ProviderEventConflictError as exc:
        logger.error("provider_event_conflict", connector=connector, event_id=event.id, reason=str(exc))
        return JsonResponse(
            error_body(
                type_="invalid_request_error",
                code="event_conflict",
                message="This event id was already received with a different body.",
            ),
            status=400,
        )
    return JsonResponse({"received": True, "duplicate": not recorded.created})
