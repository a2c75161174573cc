"""The OpenAPI document's house rules, applied to every operation so no endpoint can forget them:

* every ``POST`` documents the ``Idempotency-Key`` header (api-contract.md, Idempotency);
* every operation documents the error envelope for the statuses it can answer with.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_TYPES = [
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "idempotency_error",
    "card_error",
    "upi_error",
    "rate_limit_error",
    "api_error",
]


class ErrorDetailSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=ERROR_TYPES)  # named ErrorTypeEnum in settings.SPECTACULAR_SETTINGS
    code = serializers.CharField()
    message = serializers.CharField()
    param = serializers.CharField(allow_null=True, help_text="the parameter at fault, null when none")


class ErrorSerializer(serializers.Serializer[Any]):
    """``{"error": {"type", "code", "message", "param"}}``: the one error shape of the API."""

    error = ErrorDetailSerializer()


IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": (
        "1 to 255 printable characters, scoped to your account and kept at least 24 hours. A retry with the same "
        "key and parameters returns the first response, byte for byte, with `Idempotent-Replayed: true` (errors "
        "and 500s included once the request started executing; requests refused by validation, authentication or "
        "rate limiting are not stored). Different parameters or another endpoint get 400 `idempotency_key_reused`;"
        " a retry while the first request still runs gets 409 `idempotency_key_in_use`; a malformed key gets 400 "
        "`idempotency_key_invalid`."
    ),
}

_ERRORS_EVERYWHERE = {
    400: "Invalid request (the envelope's `param` names the field); an unknown parameter is `parameter_unknown`.",
    401: "Missing or invalid API key.",
    404: "No such object (other accounts' objects do not exist for you).",
    429: "Too many requests for this API key; retry after `Retry-After` seconds.",
    500: "An internal error.",
}
_ERRORS_ON_POST = {
    409: "A request with this Idempotency-Key is still executing.",
    503: "The platform is shedding load; retry after `Retry-After` seconds.",
}


class LedgerlineAutoSchema(AutoSchema):
    # Applied to the finished operation, so a view's own @extend_schema (parameters, responses) cannot drop them.
    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: ComponentRegistry
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if method == "POST":
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        errors = dict(_ERRORS_EVERYWHERE)
        if method == "POST":
            errors.update(_ERRORS_ON_POST)
        responses = operation.setdefault("responses", {})
        for status, description in errors.items():
            if str(status) not in responses:
                error = OpenApiResponse(response=ErrorSerializer, description=description)
                responses[str(status)] = self._get_response_for_code(error, str(status))  # type: ignore[no-untyped-call]
        return operation


def strict_request_bodies_postprocess(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: request objects say ``additionalProperties: false``.

    Every input serializer refuses unknown fields (400 ``parameter_unknown``, core/api/strict.py); a schema that
    allowed them promised clients and fuzzers requests the server refuses (schemathesis, issue 12). Maps such as
    ``metadata`` have their own ``additionalProperties`` and keep it.
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object" and "properties" in component:
            component.setdefault("additionalProperties", False)
    return result
