from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.logging import current_request_id


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
