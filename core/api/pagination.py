"""Cursor pagination as the contract describes it: ``limit``, ``starting_after``, ``ending_before``.

Ids are time-ordered (``core.ids``), so "newest first" and both cursors are plain primary-key comparisons
served by the primary key index; no offset scans, and pages stay stable while new objects arrive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

_ID = re.compile(r"^[a-z]{2,8}_[0-9A-Za-z]{1,64}$")


class _PageParams(serializers.Serializer[Any]):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    starting_after = serializers.RegexField(_ID, required=False)
    ending_before = serializers.RegexField(_ID, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "starting_after" in attrs and "ending_before" in attrs:
            raise serializers.ValidationError(
                {"ending_before": "Use either starting_after or ending_before, not both."}, code="parameter_invalid"
            )
        return attrs


class CursorListPagination(BasePagination):
    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        if not isinstance(queryset, QuerySet):
            raise TypeError("cursor pagination needs a queryset ordered by time-ordered primary keys")
        # A plain dict, not the QueryDict: DRF treats '' in form-like data as absent, and `?limit=` must be a 400.
        params = _PageParams(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        limit: int = params.validated_data["limit"]
        for cursor in ("starting_after", "ending_before"):
            value = params.validated_data.get(cursor)
            # An id that is not in this list (mistyped, another list's, another account's) used to return the
            # first page as if no cursor had been given: a client paging on would loop or skip silently.
            if value is not None and not queryset.filter(pk=value).exists():
                raise serializers.ValidationError(
                    {cursor: [f"No such object in this list: '{value}'."]}, code="resource_missing"
                )
        if "ending_before" in params.validated_data:
            rows = list(queryset.filter(pk__gt=params.validated_data["ending_before"]).order_by("pk")[: limit + 1])
            self.has_more = len(rows) > limit
            page = list(reversed(rows[:limit]))
        else:
            if "starting_after" in params.validated_data:
                queryset = queryset.filter(pk__lt=params.validated_data["starting_after"])
            rows = list(queryset.order_by("-pk")[: limit + 1])
            self.has_more = len(rows) > limit
            page = rows[:limit]
        self.url = request.path
        return page

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"object": "list", "data": data, "has_more": self.has_more, "url": self.url})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["object", "data", "has_more", "url"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": schema,
                "has_more": {"type": "boolean"},
                "url": {"type": "string"},
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            },
            {
                "name": "starting_after",
                "in": "query",
                "required": False,
                # The server refuses anything but an id's shape; the schema said "any string" (schemathesis).
                "schema": {"type": "string", "pattern": _ID.pattern},
                "description": "an object id of this list: the page after it. An empty value is a 400 "
                "`parameter_invalid`; an id not in this list is a 400 `resource_missing`.",
            },
            {
                "name": "ending_before",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": _ID.pattern},
                "description": "an object id of this list: the page before it (same errors as starting_after).",
            },
        ]
