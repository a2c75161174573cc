from typing import Any

import structlog
from celery import shared_task

from core.logging import current_request_id

logger = structlog.get_logger(__name__)


@shared_task(name="core.ping")
def ping(payload: str = "ping") -> dict[str, Any]:
    """A round trip through the broker and a worker: readiness checks and tests use it."""
    logger.info("ping_received", payload=payload)
    return {"pong": payload, "request_id": current_request_id()}
