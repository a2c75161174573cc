"""OpenAPI links: which response's ``id`` feeds which later operation (issue 12).

Links tell a client, and schemathesis' stateful phase, that the ``id`` a create returns is what retrieve, confirm,
capture, cancel, update or delete take; without them a fuzzer only ever sees random ids and 404s. Lists link to
nothing: an empty list has no first id, and a link that cannot resolve is an error to a client that follows it.
"""

from __future__ import annotations

from typing import Any

_ID = "$response.body#/id"

# source operationId -> {link name: (target operationId, {target parameter: expression})}
_LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "payment_create": {
        "RetrievePayment": ("payment_retrieve", {"payment_id": _ID}),
        "ConfirmPayment": ("payment_confirm", {"payment_id": _ID}),
        "CapturePayment": ("payment_capture", {"payment_id": _ID}),
        "CancelPayment": ("payment_cancel", {"payment_id": _ID}),
    },
    "payment_confirm": {
        "RetrievePayment": ("payment_retrieve", {"payment_id": _ID}),
        "CapturePayment": ("payment_capture", {"payment_id": _ID}),
        "CancelPayment": ("payment_cancel", {"payment_id": _ID}),
    },
    "payment_capture": {"RetrievePayment": ("payment_retrieve", {"payment_id": _ID})},
    "payment_cancel": {"RetrievePayment": ("payment_retrieve", {"payment_id": _ID})},
    "refund_create": {"RetrieveRefund": ("refund_retrieve", {"refund_id": _ID})},
    "payout_create": {
        "RetrievePayout": ("payout_retrieve", {"payout_id": _ID}),
        "CancelPayout": ("payout_cancel", {"payout_id": _ID}),
    },
    "webhook_endpoints_create": {
        "RetrieveWebhookEndpoint": ("webhook_endpoints_retrieve", {"endpoint_id": _ID}),
        "UpdateWebhookEndpoint": ("webhook_endpoints_update", {"endpoint_id": _ID}),
        "RollWebhookEndpointSecret": ("webhook_endpoints_roll_secret", {"endpoint_id": _ID}),
        "DeleteWebhookEndpoint": ("webhook_endpoints_delete", {"endpoint_id": _ID}),
    },
    "webhook_endpoints_update": {
        "RetrieveWebhookEndpoint": ("webhook_endpoints_retrieve", {"endpoint_id": _ID}),
        "DeleteWebhookEndpoint": ("webhook_endpoints_delete", {"endpoint_id": _ID}),
    },
}

# A refund is created from a payment: the payment's id goes into the refund's body.
_BODY_LINKS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "payment_create": {"RefundPayment": ("refund_create", {"payment": _ID})},
    "payment_capture": {"RefundPayment": ("refund_create", {"payment": _ID})},
    "payment_retrieve": {"RefundPayment": ("refund_create", {"payment": _ID})},
}


def links_postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: adds ``links`` to the 200 response of each source operation."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            operation_id = str(operation.get("operationId", ""))
            response = operation.get("responses", {}).get("200")
            if response is None:
                continue
            links: dict[str, Any] = {}
            for name, (target, parameters) in _LINKS.get(operation_id, {}).items():
                links[name] = {"operationId": target, "parameters": parameters}
            for name, (target, body) in _BODY_LINKS.get(operation_id, {}).items():
                links[name] = {"operationId": target, "requestBody": body}
            if links:
                response["links"] = links
    return result
