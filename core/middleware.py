from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.logging import bind_payment, current_request_id


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
