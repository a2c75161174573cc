"""``python -m sandbox --host 127.0.0.1 --port 8100 [--db PATH]`` (or SANDBOX_HOST / SANDBOX_PORT / SANDBOX_DB)."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .config import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Ledgerline PSP sandbox")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--db", default=settings.db, help="SQLite file to keep state across restarts")
    args = parser.parse_args(argv)
    settings.host, settings.port, settings.db = args.host, args.port, args.db
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        http="h11",  # lose_response reaches the connection through h11's cycle object
        access_log=False,  # our own JSON line per request replaces it
        log_level="warning",
        # A "timeout" fault leaves requests hanging for minutes; don't let them block shutdown.
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
