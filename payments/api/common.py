"""What the merchant API's views share: list pages and the metadata field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorListPagination
from payments.api.payments import _metadata_validate


def metadata_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), default=dict, validators=[_metadata_validate]
    )


def list_response(view: APIView, request: Request, queryset: Any, serializer: Callable[[Any], Any]) -> Response:
    """One page of ``queryset`` (cursor pagination), each object rendered by ``serializer``."""
    paginator = CursorListPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page))
