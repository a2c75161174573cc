"""Starting the platform's real processes from tests: free ports, clean environments, reliable teardown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Variables that would pull a child process into another shape than the one a test asks for.
_SHAPE_VARIABLES = ("LEDGERLINE_ENV", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "CELERY_BROKER_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SHAPE_VARIABLES}
    env.update(overrides)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    # A process group of its own, so teardown reaches every child (gunicorn workers, celery pool processes).
    return subprocess.Popen(
        args, cwd=ROOT, env=dict(env), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def session_pids(session_id: int) -> list[int]:
    """Every live process of a session that ``start`` opened (its children may have process groups of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...; a zombie is already gone.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session_id and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 40) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Whatever the leader left behind in its session (a supervisor's programs run in groups of their own).
    for pid in session_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return proc.returncode


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def embedded_shell(script: str, var_dir: Path) -> Any:
    """Migrate a fresh embedded (SQLite) platform in ``var_dir``, run ``script`` in its Django shell and return the
    JSON the script printed last."""
    env = clean_env(LEDGERLINE_VAR_DIR=str(var_dir))
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", script]):
        done = subprocess.run(manage + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def django_probe(script: str, env: Mapping[str, str]) -> Any:
    """Runs ``script`` in a fresh interpreter with ``env`` (settings read from it, e.g. the production shape) and
    returns the JSON the script printed last."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings", **env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
