"""The only request body the API reads: a JSON document, bounded in size and depth, with no NUL characters.

Form encoding is not read (the contract's bodies are JSON; nested form fields were never parsed), so the schema
advertises JSON only. NUL characters are refused here because PostgreSQL cannot store them in text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, serializers
from rest_framework.parsers import BaseParser

# Deeper than any request body of the contract (payment_method[card][number] is three): refused before any
# recursive walk (the JSON decoder's, DRF's, ours) can hit Python's recursion limit.
MAX_DEPTH = 8


class RequestTooLargeError(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _walk(value: Any, path: str, depth: int) -> None:
    """Refuses NUL characters (keys and values) and nesting beyond ``MAX_DEPTH``, naming the parameter."""
    if depth > MAX_DEPTH:
        raise exceptions.ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError(
                {path or "body": ["NUL characters are not allowed."]}, code="parameter_invalid"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:  # named by its parent: a param echoing the NUL would carry it on
                raise serializers.ValidationError(
                    {path or "body": ["NUL characters are not allowed in keys."]}, code="parameter_invalid"
                )
            name = f"{path}[{key}]" if path else key
            _walk(item, name, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _walk(item, path, depth + 1)


class StrictJSONParser(BaseParser):
    """The only request body the API reads: a JSON document (the contract's format; no form encoding)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLargeError()
        try:
            data = json.loads(raw)
        except RecursionError:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Invalid JSON: {exc}") from None
        _walk(data, "", 0)
        return data
