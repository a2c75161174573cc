"""Query filters every list shares: ``created[gte]`` / ``created[lte]`` take the same formats everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

TIMESTAMP_FORMATS = "unix seconds (1767225600) or ISO 8601 with a timezone (2026-01-01T00:00:00Z), year 1 to 9999"


@extend_schema_field(OpenApiTypes.STR)
class TimestampField(serializers.Field[datetime, Any, str, Any]):
    """A filter bound: unix seconds (``1767225600``) or ISO 8601 with a timezone (``2026-01-01T00:00:00Z``)."""

    default_error_messages = {"invalid": f"Use {TIMESTAMP_FORMATS}."}

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        try:
            if text.isdigit():
                # Beyond year 9999 Python's datetime (and a client's) ends: a 400, not an OverflowError.
                return datetime.fromtimestamp(int(text), tz=UTC)
            parsed = parse_datetime(text)
        except (ValueError, OverflowError, OSError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("invalid")
        return parsed

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


CREATED_PARAMETERS = [
    OpenApiParameter("created[gte]", str, description=f"created at or after: {TIMESTAMP_FORMATS}", required=False),
    OpenApiParameter("created[lte]", str, description=f"created at or before: {TIMESTAMP_FORMATS}", required=False),
]
