"""A small process supervisor for ``make run``: starts the platform's programs, restarts one that dies, and stops
them all gracefully.

Why not honcho (used before): it tears the whole platform down when any one program exits, so one killed worker
stopped the API and the sandbox too, and on Ctrl-C it SIGKILLs whatever has not exited 5 seconds after SIGTERM,
which cuts Celery's warm shutdown short (a task in the middle of a provider call is abandoned). supervisord would do
it, but it is a daemon with its own configuration files and socket, too much for a foreground developer command.

Each program runs in a process group of its own (inside the caller's session), so:
- a terminal's Ctrl-C reaches only this supervisor, which then asks each program to stop with SIGTERM (Celery's warm
  shutdown: running tasks finish; gunicorn's graceful stop), waits up to ``stop_timeout``, and only then kills;
- when a program's main process dies, whatever it leaves behind (a Celery pool child) is killed with its group before
  the program is started again.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Protocol

# A program that ran at least this long before dying gets its quick restart back (its crashes are not a loop).
_STABLE_AFTER_SECONDS = 30.0
_FIRST_RESTART_DELAY = 1.0
_MAX_RESTART_DELAY = 30.0
# A program that dies this many times in a row without ever running stably cannot start (a port in use, a broken
# setting): restarting it forever would hide that, so the platform stops and says so.
_MAX_QUICK_FAILURES = 5


class Output(Protocol):
    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


@dataclass
class Program:
    name: str
    command: str
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restart_delay: float = _FIRST_RESTART_DELAY
    quick_failures: int = 0
    restarts: int = 0
    pumps: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        programs: Mapping[str, str],
        *,
        cwd: str,
        out: Output,
        env: Mapping[str, Mapping[str, str]] | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.programs = [Program(name, command, (env or {}).get(name)) for name, command in programs.items()]
        self.cwd = cwd
        self.out = out
        self.stop_timeout = stop_timeout
        self._width = max(len(name) for name in [*programs, "system"])
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._force = False
        self.returncode = 0

    # --- output ---------------------------------------------------------------------------------------------
    def say(self, line: str, *, name: str = "system") -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.out.write(f"{stamp} {name:<{self._width}} | {line}\n")
            self.out.flush()

    def _pump(self, program: Program, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(raw.decode(errors="replace").rstrip("\n"), name=program.name)
        stream.close()

    # --- processes ------------------------------------------------------------------------------------------
    def _start(self, program: Program) -> None:
        # The commands are the platform's own (run_platform builds them from settings), never outside input.
        process = subprocess.Popen(  # noqa: S603 - see above
            shlex.split(program.command),
            cwd=self.cwd,
            env=dict(program.env) if program.env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        program.process, program.started_at, program.restart_at = process, time.monotonic(), None
        program.pumps = []
        if process.stdout is not None:
            pump = threading.Thread(target=self._pump, args=(program, process.stdout), daemon=True)
            pump.start()
            program.pumps.append(pump)
        self.say(f"started with pid {process.pid}", name=program.name)

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def _reap(self, program: Program, process: subprocess.Popen[bytes], returncode: int) -> None:
        """The main process has exited: clear out its group, then decide whether and when to start it again."""
        self._signal_group(process, signal.SIGKILL)
        ran_for = time.monotonic() - program.started_at
        if ran_for >= _STABLE_AFTER_SECONDS:
            program.restart_delay, program.quick_failures = _FIRST_RESTART_DELAY, 0
        else:
            program.quick_failures += 1
        if program.quick_failures >= _MAX_QUICK_FAILURES:
            self.say(
                f"exited with code {returncode} {program.quick_failures} times in a row within "
                f"{_STABLE_AFTER_SECONDS:.0f} s of starting: stopping the platform",
                name=program.name,
            )
            self.returncode = 1
            self._stop_requested.set()
            return
        self.say(f"exited with code {returncode}; restarting in {program.restart_delay:.0f} s", name=program.name)
        program.restart_at = time.monotonic() + program.restart_delay
        program.restart_delay = min(program.restart_delay * 2, _MAX_RESTART_DELAY)
        program.restarts += 1

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop_requested.is_set():
            self._force = True  # a second Ctrl-C: stop waiting for graceful shutdowns
        self._stop_requested.set()

    def run(self) -> int:
        """Runs until SIGINT/SIGTERM (or a program that cannot start); returns the exit code."""
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        for program in self.programs:
            self._start(program)
        while not self._stop_requested.wait(0.2):
            for program in self.programs:
                if program.process is None:
                    continue
                returncode = program.process.poll()
                if returncode is not None and program.restart_at is None:
                    self._reap(program, program.process, returncode)
                if program.restart_at is not None and time.monotonic() >= program.restart_at:
                    self._start(program)
        self._stop_all()
        return self.returncode

    def _stop_all(self) -> None:
        self.say(f"stopping (waiting up to {self.stop_timeout:.0f} s for running work; Ctrl-C again to kill now)")
        running = [p.process for p in self.programs if p.process is not None and p.process.poll() is None]
        for process in running:
            # The main process only: Celery and gunicorn shut their own children down in order.
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while not self._force and time.monotonic() < deadline:
            if all(process.poll() is not None for process in running):
                break
            time.sleep(0.1)
        for program in self.programs:
            if program.process is None:
                continue
            if program.process.poll() is None:
                self.say("did not stop in time: killed", name=program.name)
            # Whatever is left in the group (the main process, or children it failed to take down) goes now.
            self._signal_group(program.process, signal.SIGKILL)
            program.process.wait()
            for pump in program.pumps:
                pump.join(timeout=2)
        self.say("stopped")
