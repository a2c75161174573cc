"""Database helpers every app may use: row locks that degrade gracefully on SQLite (the embedded shape's
database), and deletes in bounded chunks.

SQLite has no row locks, but the embedded settings open every transaction ``IMMEDIATE``, which takes the
database's single write lock at ``BEGIN``: writers are serialised, which is the exclusivity a lock would give.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def lock_rows(queryset: QuerySet[M, Any]) -> QuerySet[M, Any]:
    """``SELECT … FOR UPDATE`` where the database has row locks."""
    return queryset.select_for_update() if connection.features.has_select_for_update else queryset


def skip_locked(queryset: QuerySet[M, Any]) -> QuerySet[M, Any]:
    """``FOR UPDATE SKIP LOCKED`` where supported, so concurrent claimers take disjoint rows instead of queueing."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return lock_rows(queryset)


def delete_in_chunks(queryset: QuerySet[M, Any], *, chunk: int = 1000) -> int:
    """Deletes what ``queryset`` matches a chunk at a time, so no single statement or transaction grows with the
    backlog (retention jobs); returns how many rows of the queryset's model went."""
    removed = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:chunk])
        if not ids:
            return removed
        queryset.model._default_manager.filter(pk__in=ids).delete()
        removed += len(ids)
