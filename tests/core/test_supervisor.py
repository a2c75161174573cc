"""The supervisor behind ``make run``, with small stand-in programs: graceful stop, restart, and a crash loop."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests import processes

PY = shlex.quote(sys.executable)

_RUN = """
import sys
from core.supervisor import Supervisor
programs = {programs!r}
sys.exit(Supervisor(programs, cwd={cwd!r}, out=sys.stdout, stop_timeout={stop_timeout}).run())
"""


def _start(tmp_path: Path, programs: dict[str, str], stop_timeout: float = 30) -> tuple[subprocess.Popen[bytes], Path]:
    script = _RUN.format(programs=programs, cwd=str(tmp_path), stop_timeout=stop_timeout)
    log = tmp_path / "supervisor.log"
    env = processes.clean_env(PYTHONPATH=str(processes.ROOT))
    return processes.start([sys.executable, "-c", script], env, log), log


def _program(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return f"{PY} -u {shlex.quote(str(path))}"


# Takes 6 s to shut down on SIGTERM, like a Celery worker finishing its task; honcho killed such a program at 5 s.
_SLOW_TO_STOP = """
import signal, sys, time
def stop(signum, frame):
    time.sleep(6)
    print("finished cleanly", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def test_sigint_asks_each_program_to_stop_and_waits_for_it(tmp_path):
    slow = _program(tmp_path, "slow", _SLOW_TO_STOP)
    proc, log = _start(tmp_path, {"slow": slow, "other": slow})
    try:
        processes.wait_until(lambda: log.read_text().count("| up") == 2, timeout=20, what="programs", log=log)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        processes.stop(proc)
    text = log.read_text()
    assert "slow   | finished cleanly" in text
    assert "other  | finished cleanly" in text
    assert "killed" not in text
    assert processes.session_pids(proc.pid) == []


def test_a_program_that_dies_is_restarted_and_its_leftover_children_are_killed(tmp_path):
    child_pid_file = tmp_path / "child.pid"
    # A main process with a child in its group (like a Celery pool process) that would outlive it.
    parent = _program(
        tmp_path,
        "parent",
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        if not os.path.exists({str(child_pid_file)!r}):
            open({str(child_pid_file)!r}, "w").write(str(child.pid))
        print("up", os.getpid(), flush=True)
        time.sleep(600)
        """,
    )
    proc, log = _start(tmp_path, {"parent": parent})
    try:
        processes.wait_until(lambda: "| up" in log.read_text(), timeout=20, what="program", log=log)
        first = int(log.read_text().split("| up ", 1)[1].split()[0])
        child = int(child_pid_file.read_text())
        os.kill(first, signal.SIGKILL)
        processes.wait_until(lambda: log.read_text().count("| up") == 2, timeout=20, what="restart", log=log)
        assert "parent | exited with code -9; restarting in 1 s" in log.read_text()
        assert child not in processes.session_pids(proc.pid)
        assert proc.poll() is None
    finally:
        processes.stop(proc)


def test_a_program_that_cannot_start_stops_the_platform_instead_of_looping(tmp_path):
    proc, log = _start(
        tmp_path,
        {"broken": f"{PY} -c 'raise SystemExit(3)'", "fine": f"{PY} -c 'import time; time.sleep(600)'"},
    )
    try:
        # Restarts after 1, 2, 4 and 8 s, then gives up.
        assert proc.wait(timeout=60) == 1
    finally:
        processes.stop(proc)
    text = log.read_text()
    assert text.count("broken | started with pid") == 5
    assert "exited with code 3 5 times in a row" in text
    assert processes.session_pids(proc.pid) == []
