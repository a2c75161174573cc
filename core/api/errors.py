"""One error envelope everywhere (api-contract.md, Errors):

``{"error": {"type": …, "code": …, "message": …, "param": …}}``
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from core.api.parsers import RequestTooLargeError
from core.errors import LedgerlineError

logger = structlog.get_logger(__name__)

_DRF_TYPES: list[tuple[type[drf.APIException], str, str]] = [
    (drf.NotAuthenticated, "authentication_error", "authentication_required"),
    (drf.AuthenticationFailed, "authentication_error", "invalid_api_key"),
    (drf.PermissionDenied, "permission_error", "permission_denied"),
    (drf.NotFound, "invalid_request_error", "resource_missing"),
    (drf.Throttled, "rate_limit_error", "rate_limited"),
    (drf.MethodNotAllowed, "invalid_request_error", "method_not_allowed"),
    (drf.UnsupportedMediaType, "invalid_request_error", "unsupported_media_type"),
    (drf.NotAcceptable, "invalid_request_error", "not_acceptable"),
    (drf.ParseError, "invalid_request_error", "invalid_json"),
    (RequestTooLargeError, "invalid_request_error", "request_too_large"),
]


def error_body(*, type_: str, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    # ``param`` is always present, null when no parameter is at fault (the contract): a client reads one shape.
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def _first_validation_error(detail: Any, path: str = "") -> tuple[str | None, str, str]:
    """Walks DRF's nested error detail to the first message; returns (param, code, message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = path if key == "non_field_errors" else (f"{path}[{key}]" if path else str(key))
            return _first_validation_error(value, name)
    if isinstance(detail, list) and detail:
        return _first_validation_error(detail[0], path)
    code = getattr(detail, "code", None) or "invalid"
    message = str(detail)
    return (path or None, _validation_code(code, path), f"{path}: {message}" if path else message)


def _validation_code(code: str, param: str) -> str:
    if code == "required":
        return "parameter_missing"
    if code in {
        "invalid",
        "invalid_choice",
        "null",
        "blank",
        "max_length",
        "min_length",
        "max_value",
        "min_value",
    }:
        return "parameter_invalid"
    return code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    headers: dict[str, str] = {}
    if isinstance(exc, LedgerlineError):
        body = error_body(type_=exc.type, code=exc.code, message=exc.public_message(), param=exc.param)
        headers["Should-Retry"] = "true" if exc.should_retry else "false"
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return Response(body, status=exc.status_code, headers=headers)

    if isinstance(exc, drf.ValidationError):
        param, code, message = _first_validation_error(exc.detail)
        body = error_body(type_="invalid_request_error", code=code, message=message, param=param)
        return Response(body, status=400, headers={"Should-Retry": "false"})

    if isinstance(exc, drf.APIException):
        type_, code = "api_error", "api_error"
        for klass, klass_type, klass_code in _DRF_TYPES:
            if isinstance(exc, klass):
                type_, code = klass_type, klass_code
                break
        message = str(exc.detail) if not isinstance(exc.detail, list | dict) else "Request failed."
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf.Throttled) and wait is not None:
            headers["Retry-After"] = str(max(1, int(wait)))
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        retry = isinstance(exc, drf.Throttled) or exc.status_code >= 500
        headers["Should-Retry"] = "true" if retry else "false"
        return Response(error_body(type_=type_, code=code, message=message), status=exc.status_code, headers=headers)

    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (restarting, failing over): nothing was done, and the same request later will
        # work. A 503 says so; a 500 would say the request itself is at fault.
        logger.warning("api_database_unavailable", exc_type=type(exc).__name__, error=str(exc)[:200])
        body = error_body(
            type_="api_error", code="service_unavailable", message="The service is briefly unavailable; retry."
        )
        return Response(body, status=503, headers={"Should-Retry": "true", "Retry-After": "1"})

    # Anything else is a bug; DRF would re-raise and Django would render HTML. The contract wants the envelope.
    logger.exception("unhandled_api_exception", exc_type=type(exc).__name__)
    return Response(
        error_body(type_="api_error", code="internal_error", message="An internal error occurred."),
        status=500,
        headers={"Should-Retry": "true"},
    )


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(
        error_body(type_="invalid_request_error", code="resource_missing", message="Unrecognized request URL."),
        status=404,
    )


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body(type_="api_error", code="internal_error", message="An internal error occurred."),
        status=500,
    )
