"""Stripe's request encoding: form bodies (and query strings) with bracket notation.

``metadata[order]=42&expand[0]=latest_charge&expand[]=customer&payment_method_data[card][exp_month]=12`` becomes
``{"metadata": {"order": "42"}, "expand": ["latest_charge", "customer"], "payment_method_data": {"card": …}}``.
Values stay strings (form encoding has no types); the input serializers convert them. Stripe's SDKs also send an
empty value to clear a field (``metadata[key]=``), which is kept as ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from rest_framework import exceptions, serializers
from rest_framework.parsers import BaseParser

from core.api.parsers import MAX_DEPTH, RequestTooLargeError, StrictJSONParser

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Bounds what a client can make us build: more keys than any Stripe request carries, and no huge list index.
MAX_PARAMETERS = 1000
MAX_INDEX = 1000


def _path(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not head:
        raise serializers.ValidationError({key or "body": ["Malformed parameter name."]}, code="parameter_invalid")
    if not bracket:
        return [head]
    tail = "[" + rest
    segments = _SEGMENT.findall(tail)
    if "".join(f"[{s}]" for s in segments) != tail:
        raise serializers.ValidationError({key: ["Malformed parameter name."]}, code="parameter_invalid")
    return [head, *segments]


def _listify(value: Any, name: str) -> Any:
    """Dicts whose keys are all indexes (``expand[0]``, ``expand[1]``) become lists, in index order."""
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v, f"{name}[{k}]") for k, v in value.items()}
    if items and all(isinstance(k, int) for k in items):
        return [items[k] for k in sorted(items)]
    if any(isinstance(k, int) for k in items):
        raise serializers.ValidationError({name: ["Mixes a list and an object."]}, code="parameter_invalid")
    return items


def bracket_decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested parameters from flat ``(name, value)`` pairs in bracket notation (see the module docstring)."""
    root: dict[Any, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > MAX_PARAMETERS:
            raise serializers.ValidationError({"body": ["Too many parameters."]}, code="parameter_invalid")
        if "\x00" in key or "\x00" in value:
            raise serializers.ValidationError({"body": ["NUL characters are not allowed."]}, code="parameter_invalid")
        path = _path(key)
        if len(path) > MAX_DEPTH:
            raise serializers.ValidationError({key: ["Nested too deeply."]}, code="parameter_invalid")
        node: dict[Any, Any] = root
        for depth, segment in enumerate(path):
            last = depth == len(path) - 1
            slot: Any = segment
            if depth > 0 and segment == "":
                slot = len(node)  # ``expand[]=a&expand[]=b``: appended in order
            elif depth > 0 and segment.isdigit():
                slot = int(segment)
                if slot > MAX_INDEX:
                    raise serializers.ValidationError({key: ["List index too large."]}, code="parameter_invalid")
            if last:
                if isinstance(node.get(slot), dict):
                    raise serializers.ValidationError(
                        {key: ["Given both as a value and an object."]}, code="parameter_invalid"
                    )
                node[slot] = value
            else:
                child = node.setdefault(slot, {})
                if not isinstance(child, dict):
                    raise serializers.ValidationError(
                        {key: ["Given both as a value and an object."]}, code="parameter_invalid"
                    )
                node = child
    return {k: _listify(v, k) for k, v in root.items()}


def query_decode(query_string: str) -> dict[str, Any]:
    return bracket_decode(parse_qsl(query_string, keep_blank_values=True))


class StripeFormParser(BaseParser):
    """``application/x-www-form-urlencoded`` in Stripe's bracket notation, bounded in size like the JSON parser."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLargeError()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.ParseError("The form body is not UTF-8.") from None
        return bracket_decode(parse_qsl(text, keep_blank_values=True))


PARSERS = [StripeFormParser, StrictJSONParser]


def metadata_given(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metadata`` of a create: Stripe reads an empty value as "no such key", so it is left out."""
    return {k: v for k, v in (data.get("metadata") or {}).items() if v != ""}
