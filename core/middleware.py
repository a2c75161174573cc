from collections.abc import Callable

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
    JsonResponse,
)

from core.api.errors import error_body
from core.logging import bind_payment, current_request_id

logger = structlog.get_logger(__name__)


class RequestIdHeaderMiddleware:
    """Returns the request id (taken from ``X-Request-Id`` or generated) as ``Request-Id`` on every response.

    Sits inside django_structlog's middleware, which binds the id to the log context first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        request_id = current_request_id()
        if request_id:
            response["Request-Id"] = request_id
        return response


class LogContextMiddleware:
    """Binds the payment a request is about (its URL's ``payment_id``) to the request's log lines."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: object, kwargs: dict[str, object]
    ) -> None:
        payment_id = kwargs.get("payment_id")
        if isinstance(payment_id, str):
            bind_payment(payment_id)


_API_PREFIXES = ("/v1/", "/psp/", "/stripe/")
_STATUS_ERRORS = {
    400: ("invalid_request_error", "bad_request", "The request could not be understood."),
    404: ("invalid_request_error", "resource_missing", "Unrecognized request URL."),
    405: ("invalid_request_error", "method_not_allowed", "Method not allowed."),
    413: ("invalid_request_error", "request_too_large", "The request body is too large."),
}


def _envelope(
    status: int, *, code: str | None = None, message: str | None = None, param: str | None = None
) -> JsonResponse:
    type_, default_code, default_message = _STATUS_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", "api_error", "An error occurred.")
    )
    if status >= 500:
        default_code, default_message = "internal_error", "An internal error occurred."
    body = error_body(type_=type_, code=code or default_code, message=message or default_message, param=param)
    response = JsonResponse(body, status=status)
    response["Should-Retry"] = "true" if status >= 500 else "false"
    return response


class ApiErrorEnvelopeMiddleware:
    """Under ``/v1/`` and ``/psp/`` every error is the contract's JSON envelope, whatever produced it.

    Django answers some errors before or around any view, in HTML (and with ``DEBUG`` on, its debug pages): an
    unknown route, a bad ``Host``, an oversized body, a view's crash. This middleware refuses what no view should
    see (a NUL character, which PostgreSQL cannot store, in the path or the query; a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``) and rewrites any other non-JSON error into the envelope.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(_API_PREFIXES):
            return self._outside_the_api(request)
        refused = self._refuse(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            rewritten = _envelope(response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    rewritten[header] = response[header]
            return rewritten
        return response

    def _outside_the_api(self, request: HttpRequest) -> HttpResponse:
        """The back office gets the same protection in its own shape: an admin search or form field with a NUL
        character reached PostgreSQL (a 500) before."""
        if "\x00" in request.path_info:
            return HttpResponseNotFound("Not found.")
        forms = ("application/x-www-form-urlencoded", "multipart/form-data")
        fields = [request.GET]
        if request.method == "POST" and request.content_type in forms:
            fields.append(request.POST)
        for values in fields:
            for name, items in values.lists():
                if "\x00" in name or any(isinstance(v, str) and "\x00" in v for v in items):
                    return HttpResponseBadRequest("NUL characters are not allowed.")
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> JsonResponse | None:
        if "\x00" in request.path_info:
            return _envelope(404)  # no object id contains one: the object does not exist
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return _envelope(
                    400, code="parameter_invalid", message="NUL characters are not allowed.", param=name[:100]
                )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _envelope(400, message="Content-Length is not a number.")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return _envelope(413)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A plain Django view's exception under the API prefixes (the provider endpoint): the envelope."""
        if not request.path_info.startswith(_API_PREFIXES):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _envelope(413)
        if isinstance(exception, SuspiciousOperation):
            return _envelope(400)
        if isinstance(exception, Http404):
            return _envelope(404)
        logger.exception("unhandled_api_exception", exc_type=type(exception).__name__)
        return _envelope(500)
