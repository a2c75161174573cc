"""Strict requests (api-contract.md, Errors): what the API does not know, it refuses, naming it.

Three pieces (two here), each the one place for its concern:

* ``core.api.parsers.StrictJSONParser`` reads every request body: JSON only, bounded in size and depth, no NUL
  characters (PostgreSQL cannot store them), so nothing malformed reaches a serializer or the database.
* ``InputSerializer`` is the base of every request serializer: unknown keys are ``parameter_unknown``; integer
  fields take JSON integers only (not ``10.0``, ``"10"`` or ``true``) within PostgreSQL's ``bigint``; boolean
  fields take ``true`` and ``false`` only.
* ``ApiView`` is the base of every API view: query parameters it does not declare are ``parameter_unknown``; a
  ``POST`` body is checked against the view's ``input_serializer`` before anything is looked up, so an unknown
  parameter is the same 400 on every endpoint whatever the object ids in the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

# PostgreSQL's bigint: any integer a client sends must fit the column it may end up in.
BIGINT_MAX = 2**63 - 1
PAGINATION_PARAMETERS = frozenset({"limit", "starting_after", "ending_before"})


def _unknown(param: str) -> serializers.ValidationError:
    return serializers.ValidationError({param: [f"Received unknown parameter: {param}"]}, code="parameter_unknown")


def _strict_integer(field: serializers.IntegerField, name: str, value: Any) -> None:
    # bool is an int in Python; the contract says JSON integers, and ``true`` is not one.
    if type(value) is not int:
        raise serializers.ValidationError({name: ["Must be a JSON integer."]}, code="parameter_invalid")
    if not -BIGINT_MAX <= value <= BIGINT_MAX:
        raise serializers.ValidationError(
            {name: [f"Must be between {-BIGINT_MAX} and {BIGINT_MAX}."]}, code="parameter_invalid"
        )


def _json_strings(field: serializers.Field[Any, Any, Any, Any], value: Any) -> bool:
    """False when a text field, or a map or list of text (metadata, event lists), holds something not a string."""
    if isinstance(field, serializers.CharField):
        return isinstance(value, str)
    if isinstance(field, serializers.DictField) and isinstance(field.child, serializers.CharField):
        return not isinstance(value, Mapping) or all(isinstance(v, str) for v in value.values())
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return not isinstance(value, list) or all(isinstance(v, str) for v in value)
    return True


class InputSerializer(serializers.Serializer[Any]):
    """Base of every request serializer (nested ones too): see the module docstring."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields
            for name in data:
                if name not in fields or fields[name].read_only:
                    raise _unknown(name)
            for name, field in fields.items():
                if name not in data or data[name] is None:
                    continue
                if isinstance(field, serializers.IntegerField):
                    _strict_integer(field, name, data[name])
                elif not _json_strings(field, data[name]):
                    # DRF's CharField turns 0 into "0": the schema says string (found by schemathesis).
                    raise serializers.ValidationError({name: ["Must be a JSON string."]}, code="parameter_invalid")
                elif isinstance(field, serializers.BooleanField) and type(data[name]) is not bool:
                    # DRF also takes "true", "yes", 1 and "on": a JSON API takes true and false.
                    raise serializers.ValidationError({name: ["Must be a JSON boolean."]}, code="parameter_invalid")
        return super().to_internal_value(data)


def reject_unknown_parameters(serializer_class: type[InputSerializer] | None, data: Any) -> None:
    """Raises ``parameter_unknown`` for the first parameter of ``data`` the endpoint's body does not declare."""
    if not isinstance(data, Mapping) and data not in (None, [], ""):
        # A serializer refuses a non-object itself; an endpoint without a body must refuse it here.
        raise serializers.ValidationError("The request body must be a JSON object.", code="parameter_invalid")
    unknown = unknown_parameter(_declared(serializer_class) if serializer_class is not None else None, data)
    if unknown is not None:
        raise _unknown(unknown)


_DECLARED: dict[type[InputSerializer], InputSerializer] = {}


def _declared(serializer_class: type[InputSerializer]) -> InputSerializer:
    """One instance per class, only ever read for its fields: a new serializer per request deep-copied every
    declared field (nested ones too) just to list their names."""
    found = _DECLARED.get(serializer_class)
    if found is None:
        found = _DECLARED[serializer_class] = serializer_class()
    return found


def unknown_parameter(serializer: serializers.Serializer[Any] | None, data: Any, path: str = "") -> str | None:
    """The first parameter in ``data`` that ``serializer`` (``None``: no body at all) does not declare."""
    if not isinstance(data, Mapping):
        return None
    fields = serializer.fields if serializer is not None else {}
    for name, value in data.items():
        full = f"{path}[{name}]" if path else str(name)
        field = fields.get(name)
        if field is None or field.read_only:
            return full
        if isinstance(field, serializers.Serializer):
            nested = unknown_parameter(field, value, full)
            if nested is not None:
                return nested
    return None


class ApiView(APIView):
    """Base of every API view: refuses query parameters it does not declare (see the module docstring).

    ``query_parameters`` names the filters of the view's ``GET``; list views (``pagination_class`` set) also
    take the cursor parameters.
    """

    query_parameters: ClassVar[frozenset[str]] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and throttling first: a 401 stays a 401
        reading = request.method in ("GET", "HEAD")
        allowed = self.query_parameters if reading else frozenset()
        if reading and getattr(self, "pagination_class", None) is not None:
            allowed = allowed | PAGINATION_PARAMETERS
        for name in request.query_params:
            if name not in allowed:
                raise _unknown(name)
