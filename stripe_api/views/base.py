"""What every ``/stripe/v1`` view shares: Stripe's parsing, authentication, errors, lists and idempotent writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorListPagination
from core.api.strict import unknown_parameter
from payments import selectors
from payments.api.authentication import request_api_key, request_merchant
from payments.api.idempotency import IDEMPOTENCY_HEADER, StoredJsonResponse
from payments.enums import PaymentStatus
from payments.models import Merchant, Payment
from payments.services.idempotency import (
    StoredResponse,
    idempotency_key_validate,
    idempotent_execute,
    idempotent_response_replace,
    request_fingerprint,
)
from stripe_api import objects
from stripe_api.authentication import StripeKeyAuthentication
from stripe_api.errors import stripe_exception_handler
from stripe_api.wire import PARSERS, query_decode

_PAGE_PARAMETERS = frozenset({"limit", "starting_after", "ending_before"})
_POLL_SECONDS = 0.1


def _unknown(name: str) -> serializers.ValidationError:
    return serializers.ValidationError({name: [f"Received unknown parameter: {name}"]}, code="parameter_unknown")


def metadata_field() -> serializers.DictField:
    # Stripe clears a key with an empty value; the services keep "" as "remove" where they support updates.
    return serializers.DictField(child=serializers.CharField(max_length=500, allow_blank=True), required=False)


class ExpandField(serializers.ListField):
    """``expand[]``: accepted everywhere; objects are returned with their ids (see docs/stripe-compatibility.md)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(max_length=200), required=False, **kwargs)


class StripeInput(serializers.Serializer[Any]):
    """Base of the request serializers here: form values are strings, converted by the fields as DRF does."""

    expand = ExpandField()


def scope(request: Request) -> tuple[Merchant, bool]:
    return request_merchant(request), request_api_key(request).livemode


class StripeView(APIView):
    """Stripe's wire format: form or JSON bodies, Bearer or Basic keys, Stripe's errors; kept out of /v1/schema."""

    schema = None
    parser_classes = PARSERS
    authentication_classes = [StripeKeyAuthentication]
    # The query parameters of ``GET`` besides ``expand`` (and the cursors, for lists).
    query_parameters: ClassVar[frozenset[str]] = frozenset()
    is_list: ClassVar[bool] = False

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return stripe_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and throttling first: a 401 stays a 401
        if request.headers.get("Stripe-Account"):
            # Acting for a connected account would silently act on this merchant's own: refused, not ignored.
            raise serializers.ValidationError(
                {"Stripe-Account": ["Connected accounts (Stripe-Account) are not supported."]},
                code="parameter_invalid",
            )
        self.query = query_decode(request.META.get("QUERY_STRING", ""))
        allowed = self.query_parameters | {"expand"} | (_PAGE_PARAMETERS if self.is_list else frozenset())
        for name in self.query:
            if name not in allowed:
                raise _unknown(name)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Stripe-Version"] = request.headers.get("Stripe-Version") or objects.API_VERSION
        return response

    def list_page(
        self, request: Request, queryset: QuerySet[Any], render: Callable[[list[Any]], list[Any]]
    ) -> Response:
        """One page in Stripe's list shape. ``url`` is the path the SDK appends to its ``api_base`` for the next
        page (it already ends in ``/stripe``), so it is given without that prefix."""
        paginator = CursorListPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        url = request.path.removeprefix("/stripe")
        return Response(objects.list_object(render(page), has_more=paginator.has_more, url=url))


def created_filters(query: dict[str, Any]) -> dict[str, datetime]:
    """Stripe's ``created[gte]``, ``created[lte]`` (and ``gt``/``lt``, a second apart) in unix seconds."""
    created = query.get("created")
    if created is None:
        return {}
    if not isinstance(created, dict):
        created = {"gte": created, "lte": created}
    filters: dict[str, datetime] = {}
    for op, value in created.items():
        if op not in ("gte", "lte", "gt", "lt") or not isinstance(value, str) or not value.isdigit():
            raise serializers.ValidationError({f"created[{op}]": ["Expected unix seconds."]}, code="parameter_invalid")
        moment = datetime.fromtimestamp(int(value), tz=UTC)
        if op == "gt":
            moment += timedelta(seconds=1)
        elif op == "lt":
            moment -= timedelta(seconds=1)
        filters["created_gte" if op in ("gte", "gt") else "created_lte"] = moment
    return filters


def request_body(request: Request) -> dict[str, Any]:
    data = request.data
    if isinstance(data, Mapping):
        return {key: data[key] for key in data}
    if data in (None, "", []):
        return {}
    raise serializers.ValidationError("The request body must be form-encoded parameters.", code="parameter_invalid")


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    unknown = unknown_parameter(serializer_class(), data)
    if unknown is not None:
        raise _unknown(unknown)
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class StripeWriteView(StripeView):
    """A ``POST`` executed at most once per ``Idempotency-Key`` (Stripe's SDKs send one with every ``POST``).

    ``validate_post`` checks and touches nothing (a 400 there is not stored); ``perform_post`` makes one service
    call and returns the Stripe object. ``settle`` may then, after the work committed, wait on what the work started
    (a confirm's provider call) and answer with the outcome instead: that answer replaces the stored one, so a
    retry with the same key replays what the client was finally told.
    """

    input_serializer: ClassVar[type[serializers.Serializer[Any]] | None] = StripeInput

    def validate_post(self, request: Request, data: dict[str, Any], **kwargs: Any) -> Any:
        return data

    def perform_post(self, request: Request, data: Any, **kwargs: Any) -> Response:
        raise NotImplementedError

    def settle(self, request: Request, response: Response) -> Response | None:
        return None

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw_key = request.headers.get(IDEMPOTENCY_HEADER)
        key = idempotency_key_validate(raw_key) if raw_key is not None else None
        body = request_body(request)
        data = validated(self.input_serializer, body) if self.input_serializer is not None else {}
        if self.input_serializer is None and body:
            raise _unknown(next(iter(body)))
        checked = self.validate_post(request, data, **kwargs)
        if key is None:
            response = self.perform_post(request, checked, **kwargs)
            return self._settled(request, response) or response

        api_key = request_api_key(request)

        def stored(response: Response) -> StoredResponse:
            content = self._render(response)
            return StoredResponse(status=response.status_code, body=response.data, content=content)

        outcome = idempotent_execute(
            merchant_id=api_key.merchant_id,
            livemode=api_key.livemode,
            key=key,
            method="POST",
            path=request.path,
            fingerprint=request_fingerprint(method="POST", path=request.path, body=body),
            work=lambda: stored(self.perform_post(request, checked, **kwargs)),
            on_error=lambda exc: stored(self.handle_exception(exc)),
        )
        headers = {"Should-Retry": "false", "Stripe-Should-Retry": "false"}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        elif outcome.status < 400:
            settled = self._settled(request, Response(outcome.body, status=outcome.status))
            if settled is not None:
                final = stored(settled)
                idempotent_response_replace(
                    merchant_id=api_key.merchant_id, livemode=api_key.livemode, key=key, response=final
                )
                outcome = final
        if outcome.content is None:
            return Response(outcome.body, status=outcome.status, headers=headers)
        return StoredJsonResponse(outcome.content, status=outcome.status, headers=headers)

    def _settled(self, request: Request, response: Response) -> Response | None:
        try:
            return self.settle(request, response)
        except Exception as exc:  # a card decline is an error response, rendered like any other
            return self.handle_exception(exc)

    @staticmethod
    def _render(response: Response) -> str:
        from rest_framework.renderers import JSONRenderer

        return JSONRenderer().render(response.data).decode()


def payment_outcome_wait(*, merchant: Merchant, livemode: bool, payment_id: str) -> Payment:
    """The payment once the provider answered, or as it is when ``STRIPE_API_CONFIRM_WAIT_SECONDS`` ran out.

    Stripe answers a card confirm with its outcome; the platform calls providers from workers after commit, so the
    request polls the payment (each read its own short query, no transaction held) for a bounded time."""
    deadline = time.monotonic() + settings.STRIPE_API_CONFIRM_WAIT_SECONDS
    while True:
        payment = selectors.payment_get(merchant=merchant, livemode=livemode, payment_id=payment_id)
        if payment.status != PaymentStatus.PROCESSING or time.monotonic() >= deadline:
            return payment
        time.sleep(_POLL_SECONDS)
