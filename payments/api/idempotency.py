"""The one way a ``POST`` endpoint runs: validate, then execute at most once per ``Idempotency-Key``.

Subclass ``IdempotentApiView`` and implement two methods; do not write ``post`` yourself::

    class RefundCreateApi(IdempotentApiView[RefundCreateInput]):
        @extend_schema(request=RefundCreateInputSerializer, responses={200: RefundSerializer})
        def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            return super().post(request, *args, **kwargs)       # only to hang the schema on

        def validate_post(self, request: Request, **kwargs: Any) -> RefundCreateInput:
            # Parse and check the input; touch nothing. A failure here is a 400 that is NOT stored under the key,
            # so a corrected retry with the same key works. Load-shedding checks (503) belong here too.
            ...

        def perform_post(self, request: Request, data: RefundCreateInput, **kwargs: Any) -> Response:
            # One service call and its output serializer. Whatever happens from here on is stored under the key,
            # error responses and 500s included, and replayed to every retry with the same key and parameters.
            ...

Authentication and throttling run before ``post`` (401 and 429 are never stored). With a key, the response and
every row ``perform_post`` wrote commit in one transaction (``payments.services.idempotency``); without one,
``perform_post`` simply runs. Replays carry ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.strict import ApiView, InputSerializer, reject_unknown_parameters
from payments.api.authentication import request_api_key
from payments.services.idempotency import (
    StoredResponse,
    idempotency_key_validate,
    idempotent_execute,
    request_fingerprint,
)

InputT = TypeVar("InputT")

IDEMPOTENCY_HEADER = "Idempotency-Key"


class StoredJsonResponse(Response):
    """A response whose bytes were rendered once and stored: sent as they are, never re-rendered."""

    def __init__(self, content: str, *, status: int, headers: dict[str, str]) -> None:
        super().__init__(None, status=status, headers=headers)
        self._stored = content.encode()

    @property
    def rendered_content(self) -> Any:  # bytes, as DRF's own (the stubs say str)
        self["Content-Type"] = "application/json"
        return self._stored


class IdempotentApiView(ApiView, Generic[InputT]):
    # The body ``POST`` takes (``None``: none at all). Checked for unknown parameters before ``validate_post``
    # looks anything up, so every endpoint answers an unknown parameter the same way.
    input_serializer: ClassVar[type[InputSerializer] | None]

    def validate_post(self, request: Request, **kwargs: Any) -> InputT:
        raise NotImplementedError

    def perform_post(self, request: Request, data: InputT, **kwargs: Any) -> Response:
        raise NotImplementedError

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw_key = request.headers.get(IDEMPOTENCY_HEADER)
        key = idempotency_key_validate(raw_key) if raw_key is not None else None
        reject_unknown_parameters(self.input_serializer, request.data)
        data = self.validate_post(request, **kwargs)
        if key is None:
            return self.perform_post(request, data, **kwargs)

        api_key = request_api_key(request)

        def stored(response: Response) -> StoredResponse:
            content = JSONRenderer().render(response.data).decode()
            return StoredResponse(status=response.status_code, body=response.data, content=content)

        def work() -> StoredResponse:
            return stored(self.perform_post(request, data, **kwargs))

        def on_error(exc: Exception) -> StoredResponse:
            return stored(self.handle_exception(exc))

        outcome = idempotent_execute(
            merchant_id=api_key.merchant_id,
            livemode=api_key.livemode,
            key=key,
            method=request.method or "POST",
            path=request.path,
            fingerprint=request_fingerprint(method=request.method or "POST", path=request.path, body=request.data),
            work=work,
            on_error=on_error,
        )
        # The first answer and every replay are the same bytes with the same Should-Retry: a retry under this key
        # gets this response again, so retrying it cannot help, whatever the status (a stored 500 included).
        headers = {"Should-Retry": "false"}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        if outcome.content is None:  # stored before the bytes were kept
            return Response(outcome.body, status=outcome.status, headers=headers)
        return StoredJsonResponse(outcome.content, status=outcome.status, headers=headers)
