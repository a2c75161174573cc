"""A real gunicorn for the tests that talk to the API from outside (schemathesis, a generated client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import processes


@pytest.fixture
def live_server_url(worker_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """gunicorn in the test shape, on the test database, on a free port."""
    port = processes.free_port()
    env = {**worker_env, "PORT": str(port), "WEB_CONCURRENCY": "2", "LEDGERLINE_API_RATE": "100000/s"}
    log = tmp_path / "gunicorn.log"
    proc = processes.start([str(processes.BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_until(lambda: processes.http_ok(f"{base}/healthz"), timeout=60, what="gunicorn", log=log)
        yield base
    finally:
        processes.stop(proc)
        server_log = log.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]
