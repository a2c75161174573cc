"""Jobs due at a *virtual* time (UPI auto-approval, expiry, late success, async refunds, automatic chargebacks).

Jobs live in SQLite so a restart with ``--db`` keeps them. A background loop runs due jobs every tick, and
advancing the clock runs them at once, so tests see the effect of ``/_control/clock`` without waiting.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Sandbox

JobHandler = Callable[["Sandbox", dict[str, Any]], None]
_HANDLERS: dict[str, JobHandler] = {}


def job(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the handler of one job kind (modules register theirs at import time)."""

    def register(handler: JobHandler) -> JobHandler:
        _HANDLERS[kind] = handler
        return handler

    return register


def run_due(sb: Sandbox) -> int:
    """Run every job whose time has come, including jobs those jobs schedule in the past (big clock jumps)."""
    ran = 0
    for _ in range(1000):  # guard against a handler that keeps rescheduling itself in the past
        batch = sb.store.take_due_jobs(sb.now_iso())
        if not batch:
            break
        for kind, payload in batch:
            handler = _HANDLERS.get(kind)
            if handler is None:
                continue
            try:
                handler(sb, payload)
            except Exception as exc:  # one failing job must not stop the others
                sys.stderr.write(json.dumps({"level": "error", "job": kind, "error": repr(exc)}) + "\n")
            ran += 1
    return ran


async def run_forever(sb: Sandbox) -> None:
    while True:
        run_due(sb)
        await asyncio.sleep(sb.tunables.scheduler_tick_ms / 1000)
