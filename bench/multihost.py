"""More than one machine, proven on this one: two web hosts and two worker hosts behind a load balancer, PostgreSQL
through pgbouncer in transaction mode with a streaming replica, a host of each kind killed mid-traffic, the auditor,
then a failover to the replica with the data lost (RPO) and the time to serve again (RTO) measured, and a
point-in-time recovery from the base backup and the WAL archive.

    .venv/bin/python bench/multihost.py --seed 1 --minutes 1      # or: make multihost

What it starts (all its own, on free ports, in a temporary folder; pgbouncer comes from deploy/ensure-pgbouncer.sh):

* a PostgreSQL primary (``initdb``, WAL archived to ``archive/``), a streaming replica (``pg_basebackup -R``) and a
  base backup for the point-in-time recovery;
* pgbouncer in transaction mode in front of the primary: every platform process connects through it
  (``DATABASE_TRANSACTION_POOLING``), only migrations and the bench's own checks go to PostgreSQL directly;
  reports and the dashboard read from the replica (``DATABASE_REPLICA_URL``);
* Redis, the PSP sandbox, and two "hosts" ``a`` and ``b``, each with its own var folder: a web process, a worker
  for the default and provider queues, an outbox relay; ``a`` also runs beat and the webhooks worker;
* a load balancer (round robin over the web hosts that accept a connection) that clients and the sandbox's
  webhooks go through.

Phases:

1. **Hosts die.** bench/chaos.py's seeded traffic (payments, captures, refunds, payouts, UPI …) for ``--minutes``;
   host ``a``'s web process and host ``b``'s worker are SIGKILLed mid-traffic and stay dead. Then the drain and the
   auditor (``manage.py audit``, through pgbouncer): nothing may be lost or doubled. The dead are replaced after.
2. **Failover.** Card payments from ``--writers`` clients; the primary is stopped hard (``pg_ctl stop -m
   immediate``, as a crash), the replica promoted and pgbouncer re-pointed at it (the platform's processes keep
   their settings). RTO: seconds from the crash until a new payment is accepted again. RPO: payments the clients
   were told were created that the promoted replica lacks, and payments and journal transactions the old primary
   had committed that the promoted replica lacks (the old primary is started alone afterwards to read them).
3. **Point-in-time recovery.** The base backup taken at start plus the archived WAL, recovered to the moment
   between phases 1 and 2 (``recovery_target_time``): it must hold exactly the payments and journal
   transactions counted at that moment, and ``verify_ledger`` must pass on it.

Exit status 0 when the auditor found nothing after phase 1, the recovery matched, and with ``--synchronous`` no
acknowledged payment was lost and the auditor found nothing after the failover either (with asynchronous
replication the last transactions may be lost: that is the RPO reported). The logs stay in the printed folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

if __package__ in (None, ""):  # run as a script (python bench/multihost.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.chaos import (
    CARD_OK,
    ROOT,
    Platform,
    PrivatePostgres,
    Process,
    _as_postgres,
    _Hook,
    _pg_bin,
    audit,
    drain,
    free_port,
    load,
    receiver,
    wait_for,
)

HOSTS = ("a", "b")
KILLS = (("a.web", 0.35), ("b.worker", 0.55))  # (process, fraction of phase 1) : one web host, one worker host


def run_as_postgres(*args: str) -> None:
    subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=300)


def own_folder(path: Path, mode: int = 0o700) -> Path:
    """A folder the private PostgreSQL (which runs as ``postgres`` when the bench runs as root) may use."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


# --- the load balancer in front of the web hosts ------------------------------------------------------------------
class Balancer:
    """Round robin over the web hosts, skipping those that refuse the connection (a dead host), as a load balancer
    with health checks does. A connection is proxied whole: HTTP keep-alive stays with one host until it closes."""

    def __init__(self, backends: list[int]) -> None:
        self.backends, self.port = backends, free_port()
        self._next = itertools.count()
        self.loop = asyncio.new_event_loop()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        start = next(self._next)
        for n in range(len(self.backends)):
            port = self.backends[(start + n) % len(self.backends)]
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
            return
        client_w.close()

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            ready.set()

        def run() -> None:
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)


# --- pgbouncer ----------------------------------------------------------------------------------------------------
class Bouncer:
    """pgbouncer in transaction mode: the application's connections are multiplexed over a few server connections,
    each handed to a client for one transaction only."""

    def __init__(self, folder: Path, logs: Path, target_port: int, pool_size: int) -> None:
        self.folder, self.port, self.pool_size = own_folder(folder / "pgbouncer"), free_port(), pool_size
        self.ini = self.folder / "pgbouncer.ini"
        self.write(target_port)
        users = self.folder / "userlist.txt"
        users.write_text('"ledgerline_app" ""\n"ledgerline_owner" ""\n"postgres" ""\n')
        for path in (self.ini, users):
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self.process = Process("pgbouncer", _as_postgres([ensure_pgbouncer(), str(self.ini)]), dict(os.environ), logs)

    def write(self, target_port: int) -> None:
        self.ini.write_text(
            f"""[databases]
ledgerline = host=127.0.0.1 port={target_port} dbname=ledgerline

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.folder / "userlist.txt"}
admin_users = postgres
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 1000
pidfile = {self.folder / "pgbouncer.pid"}
server_login_retry = 1
"""
        )

    def start(self) -> None:
        self.process.start()
        wait_for("pgbouncer", lambda: psycopg.connect(self.url("ledgerline_app"), connect_timeout=1).close() is None)

    def repoint(self, target_port: int) -> None:
        """What a failover does to the pooler: the same address for the platform, a new server behind it."""
        self.write(target_port)
        os.kill(int((self.folder / "pgbouncer.pid").read_text().strip()), signal.SIGHUP)

    def url(self, role: str) -> str:
        return f"postgres://{role}:{role}@127.0.0.1:{self.port}/ledgerline"


def ensure_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if found is None:
        subprocess.run(["bash", str(ROOT / "deploy" / "ensure-pgbouncer.sh")], check=True)
        found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return found


# --- the platform on two hosts -----------------------------------------------------------------------------------
@dataclass
class MultiHost(Platform):
    """bench/chaos.py's platform, spread over hosts ``a`` and ``b`` behind a load balancer, on a replicated
    PostgreSQL behind pgbouncer. ``web_port`` (and so ``web_url``) is the load balancer's."""

    synchronous: bool = False
    pool_size: int = 20
    web_ports: dict[str, int] = field(default_factory=lambda: {host: free_port() for host in HOSTS})
    dead: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.archive = own_folder(self.folder / "archive", 0o755)
        settings = {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"test ! -f {self.archive}/%f && cp %p {self.archive}/%f",
            "max_wal_senders": "10",
            "hot_standby": "on",
            # Reports on the replica are not cancelled by the cleanup the primary replays onto it.
            "hot_standby_feedback": "on",
        }
        self.postgres = PrivatePostgres(self.folder, "primary", settings)
        self.replica = PrivatePostgres(self.folder, "replica")
        self.base = self.folder / "base"
        self.balancer = Balancer(list(self.web_ports.values()))
        self.web_port = self.balancer.port

    def start_services(self) -> None:
        self.postgres.start()
        self.postgres.create_roles()
        with self.postgres.superuser() as conn:
            # pgbouncer does not pass the startup option that carries these (config/settings.py): the role does.
            conn.execute("ALTER ROLE ledgerline_app SET statement_timeout = '60s'")
            conn.execute("ALTER ROLE ledgerline_app SET lock_timeout = '10s'")
        for target in (self.replica.folder, self.base):
            own_folder(target)
            run_as_postgres(
                _pg_bin("pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(self.postgres.port), "-U", "postgres"),
                *("-D", str(target), "-X", "stream", "-c", "fast"),
                *(["-R"] if target == self.replica.folder else []),
            )
        # The replica's own settings win over the primary's copied ones: once promoted, it has no standby to wait
        # for. (The base backup keeps the primary's: its recovery writes its own below.)
        with (self.replica.folder / "postgresql.auto.conf").open("a") as conf:
            conf.write("synchronous_standby_names = ''\n")
        self.replica.start()
        wait_for("streaming replication", self.streaming)
        if self.synchronous:
            # A commit returns once the standby has the WAL on disk: no acknowledged transaction can be lost. (Only
            # now: with no standby yet, every commit would wait for one.)
            with self.postgres.superuser() as conn:
                conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                conn.execute("SELECT pg_reload_conf()")
        self.bouncer = Bouncer(self.folder, self.logs, self.postgres.port, self.pool_size)
        self.processes["pgbouncer"] = self.bouncer.process
        self.bouncer.start()
        self.start_redis()
        self.balancer.start()

    def streaming(self) -> bool:
        with self.postgres.superuser() as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
        return bool(row and row[0])

    def platform_env(self) -> dict[str, str]:
        return {
            **super().platform_env(),
            # The application through pgbouncer; migrations (the owner) and reports (the replica) directly.
            "DATABASE_URL": self.bouncer.url("ledgerline_app"),
            "DATABASE_TRANSACTION_POOLING": "true",
            "DATABASE_REPLICA_URL": self.replica.url("ledgerline_app"),
            # chaos's 5 s makes the sweep hand out again every event a busy worker has not reached yet, and with a
            # host's worker gone those copies pile up faster than one worker applies them.
            "PROVIDER_EVENT_RETRY_SECONDS": "20",
            # The balancer hands out connections, not requests, and a client keeping one connection alive would
            # talk to one host only: without keep-alive every request is balanced, as by an HTTP load balancer.
            "GUNICORN_CMD_ARGS": "--keep-alive 0",
            # Two hosts on two cores: one gunicorn process each, with threads.
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "8",
        }

    def env_for(self, name: str) -> dict[str, str]:
        host = name.split(".", 1)[0]
        if host not in HOSTS:
            return self.env
        var = self.folder / f"host-{host}" / "var"
        var.mkdir(parents=True, exist_ok=True)
        return {**self.env, "LEDGERLINE_VAR_DIR": str(var)}

    def platform_commands(self) -> dict[str, list[str]]:
        """chaos's commands per host: each host a web process on its own port, a worker for the default and
        provider queues, an outbox relay; beat (exactly one in a deployment) and the webhooks worker on ``a``."""
        single = super().platform_commands()
        commands: dict[str, list[str]] = {}
        for host in HOSTS:
            web = list(single["web"])
            web[web.index("--bind") + 1] = f"127.0.0.1:{self.web_ports[host]}"
            worker = list(single["worker"])
            worker[worker.index("--hostname") + 1] = f"{host}-worker@%h"
            commands |= {f"{host}.web": web, f"{host}.worker": worker, f"{host}.relay": single["relay"]}
        commands |= {"a.beat": single["beat"], "a.webhooks": single["webhooks"]}
        return commands

    def requests_served(self, name: str) -> int:
        """API requests a web process answered (its request log lines, health checks aside)."""
        lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        return sum(1 for line in lines if '"request_finished"' in line and '"GET /healthz"' not in line)

    def revive(self) -> None:
        """The dead hosts' processes replaced, as an operator (or the orchestrator) does after the incident."""
        for name, process in self.dead.items():
            self.processes[name] = process
            process.start()
        self.dead.clear()

    def kill(self, name: str) -> None:
        """A host's process dies and nobody restarts it (the drain restarts only what is still listed)."""
        process = self.processes.pop(name)
        self.dead[name] = process
        process.kill(signal.SIGKILL)

    def stop(self) -> None:
        super().stop()
        for process in self.dead.values():
            process.kill(signal.SIGKILL)
        self.replica.stop()

    def owner(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.postgres.url("ledgerline_owner"), autocommit=True)

    def bouncer_connections(self) -> dict[str, int]:
        """Clients connected to pgbouncer against the PostgreSQL sessions it holds for them (its admin console
        speaks only the simple query protocol, which a client-side cursor uses)."""
        with psycopg.connect(
            host="127.0.0.1", port=self.bouncer.port, user="postgres", dbname="pgbouncer", autocommit=True
        ) as conn:
            cursor = psycopg.ClientCursor(conn)
            clients = len(cursor.execute("SHOW CLIENTS").fetchall())
            servers = len(cursor.execute("SHOW SERVERS").fetchall())
        return {"client_connections": clients, "server_connections": servers}

    def crash_and_fail_over(self, marks: dict[str, float]) -> dict[str, Any]:
        """The primary dies as in a crash; the replica is promoted and pgbouncer pointed at it. The platform's
        processes keep their settings: they only ever knew pgbouncer's address."""
        with self.postgres.superuser() as conn:
            # How far behind the replica is under this load (a WAL switch, below, would make it look far).
            row = conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), replay_lag FROM pg_stat_replication"
            ).fetchone()
            # The WAL segment holding the recovery target (phase 3) is archived before the crash.
            (segment,) = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone() or ("",)
            wait_for(
                "WAL archiving",
                lambda: (
                    (conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone() or ("",))[0] >= segment
                ),
            )
        marks["crash"] = time.monotonic()
        self.postgres._ctl("stop", "-m", "immediate")
        run_as_postgres(_pg_bin("pg_ctl"), "promote", "-D", str(self.replica.folder), "-w", "-t", "60")
        marks["promoted"] = time.monotonic()
        self.bouncer.repoint(self.replica.port)
        marks["repointed"] = time.monotonic()
        self.old_primary, self.postgres = self.postgres, self.replica
        self.env["DATABASE_OWNER_URL"] = self.postgres.url("ledgerline_owner")
        return {
            "replica_behind_bytes_at_crash": int(row[0]) if row and row[0] is not None else None,
            "replica_replay_lag_at_crash": str(row[1]) if row and row[1] is not None else None,
        }


# --- phase 1: hosts die -----------------------------------------------------------------------------------------
def hosts_die(
    platform: MultiHost, args: argparse.Namespace, merchants: list[tuple[str, str]], hooks: int
) -> dict[str, Any]:
    duration = args.minutes * 60
    killed: dict[str, float] = {}
    pooling: dict[str, int] = {}

    def faults() -> None:
        # From the first payment on: chaos's load draws its whole plan before sending anything, which takes a while.
        with platform.owner() as conn:
            wait_for(
                "traffic",
                lambda: bool((conn.execute("SELECT EXISTS (SELECT 1 FROM payments_payment)").fetchone() or (0,))[0]),
                timeout=600,
            )
        started = time.monotonic()
        for name, at in sorted([*KILLS, ("pgbouncer", 0.25)], key=lambda kill: kill[1]):
            time.sleep(max(0.0, started + duration * at - time.monotonic()))
            if name == "pgbouncer":
                with contextlib.suppress(Exception):
                    pooling.update(platform.bouncer_connections())
            else:
                killed[name] = round(time.monotonic() - started, 1)
                platform.kill(name)

    injector_thread = threading.Thread(target=faults, daemon=True)
    injector_thread.start()
    # chaos's traffic and its careful client; no infrastructure faults of its own (the kills above are these),
    # and the provider's only when asked.
    load_args = argparse.Namespace(
        seed=args.seed,
        minutes=args.minutes,
        concurrency=args.concurrency,
        rate=args.rate,
        fault_interval=args.provider_faults or 1e12,
        infra_interval=1e12,
    )
    traffic, injector = asyncio.run(load(platform, load_args, merchants, hooks))
    injector_thread.join(timeout=60)
    print(f"multihost: phase 1 traffic done, killed {killed}; draining", flush=True)
    served = {f"{host}.web": platform.requests_served(f"{host}.web") for host in HOSTS}
    left = drain(platform, args.drain_seconds)
    report = audit(platform, merchants)
    return {
        "operations": sum(v for k, v in traffic.stats.items() if k != "elapsed_seconds"),
        "responses": dict(traffic.outcomes),
        "client_retries": dict(traffic.retries),
        "provider_faults": sum(injector.done.values()),
        "killed_at_seconds": killed,
        "api_requests_served": served,
        "pgbouncer_mid_traffic": pooling,
        "left_after_drain": left,
        "audit": {k: report[k] for k in ("ok", "by_check", "counts")},
        "findings": report["findings"][:30],
    }


# --- between the phases: the moment the point-in-time recovery will return to -------------------------------------
COUNTS = "SELECT (SELECT count(*) FROM payments_payment), (SELECT count(*) FROM ledger_journaltransaction)"


def recovery_target(platform: MultiHost) -> tuple[Any, tuple[int, int]]:
    """A moment with no payment or journal transaction committed around it (the background jobs still write now and
    then): what a recovery to it must hold is then exactly what was counted."""
    with platform.owner() as conn:
        for _ in range(100):
            before = conn.execute(COUNTS).fetchone()
            (moment,) = conn.execute("SELECT clock_timestamp()").fetchone() or (None,)
            time.sleep(0.5)
            if conn.execute(COUNTS).fetchone() == before and before is not None:
                time.sleep(1)  # phase 2's first commit well after it
                return moment, (int(before[0]), int(before[1]))
    raise SystemExit("multihost: no quiet moment for the recovery target")


# --- phase 2: the primary dies ------------------------------------------------------------------------------------
async def write_through_failover(platform: MultiHost, args: argparse.Namespace, secret: str) -> dict[str, Any]:
    acked: dict[str, float] = {}  # payment id -> when the client was told it was created
    errors: Counter[str] = Counter()
    marks: dict[str, float] = {}
    done = asyncio.Event()

    def body(key: str) -> dict[str, Any]:
        card = {"number": CARD_OK, "exp_month": 12, "exp_year": 2039, "cvc": "123"}
        return {
            "amount": 1000,
            "currency": "usd",
            "confirm": True,
            "metadata": {"idempotency_key": key},
            "payment_method": {"type": "card", "card": card},
        }

    async with httpx.AsyncClient(base_url=platform.web_url, headers={"Authorization": f"Bearer {secret}"}) as api:

        async def writer(n: int) -> None:
            for i in itertools.count():
                key = f"failover-{args.seed}-{n}-{i}"
                while not done.is_set():  # retried with the same key until it is created, as a careful client does
                    sent = time.monotonic()
                    try:
                        response = await api.post(
                            "/v1/payments", json=body(key), headers={"Idempotency-Key": key}, timeout=5
                        )
                    except httpx.HTTPError as exc:
                        errors[type(exc).__name__] += 1
                    else:
                        if response.status_code == 200:
                            acked[response.json()["id"]] = time.monotonic()
                            if "crash" in marks and sent > marks["crash"]:
                                marks.setdefault("served", time.monotonic())
                            break
                        errors[f"http_{response.status_code}"] += 1
                    await asyncio.sleep(0.1)
                if done.is_set():
                    return
                await asyncio.sleep(args.writer_pause)

        writers = [asyncio.create_task(writer(n)) for n in range(args.writers)]
        await asyncio.sleep(args.failover_after)
        replication = await asyncio.to_thread(platform.crash_and_fail_over, marks)
        deadline = time.monotonic() + 120
        while "served" not in marks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(args.after_failover)
        done.set()
        await asyncio.gather(*writers)
    crash = marks["crash"]
    return {
        "acked": acked,
        "acked_before_crash": sum(1 for at in acked.values() if at < crash),
        "acked_after_recovery": sum(1 for at in acked.values() if at >= crash),
        "client_errors": dict(errors),
        **replication,
        "promote_seconds": round(marks["promoted"] - crash, 2),
        "repoint_seconds": round(marks["repointed"] - marks["promoted"], 2),
        "rto_seconds": round(marks["served"] - crash, 2) if "served" in marks else None,
    }


def data_lost(platform: MultiHost, acked: dict[str, float]) -> dict[str, Any]:
    """RPO, counted two ways: what the clients were told was created that the promoted replica lacks, and what the
    old primary had committed that the promoted replica lacks (the old primary is started alone to read it)."""
    ids = {
        "payments": "SELECT id FROM payments_payment",
        "journal_transactions": "SELECT id FROM ledger_journaltransaction",
    }
    with platform.owner() as conn:
        promoted = {name: {r[0] for r in conn.execute(sql)} for name, sql in ids.items()}
    old = platform.old_primary
    with (old.folder / "postgresql.auto.conf").open("a") as conf:
        # Read only: it must neither archive over the new timeline nor wait for a standby it no longer has.
        conf.write("archive_mode = 'off'\nsynchronous_standby_names = ''\n")
    old.start()
    try:
        with psycopg.connect(old.url("ledgerline_owner"), autocommit=True) as conn:
            committed = {name: {r[0] for r in conn.execute(sql)} for name, sql in ids.items()}
    finally:
        old.stop()
    missing = {name: sorted(committed[name] - promoted[name]) for name in ids}
    lost_acked = sorted(set(acked) - promoted["payments"])
    return {
        "acknowledged_payments_lost": len(lost_acked),
        "committed_on_old_primary_but_lost": {name: len(rows) for name, rows in missing.items()},
        "examples": {"acknowledged": lost_acked[:5], **{name: rows[:5] for name, rows in missing.items()}},
    }


# --- phase 3: point-in-time recovery ------------------------------------------------------------------------------
def point_in_time_recovery(platform: MultiHost, moment: Any, expected: tuple[int, int]) -> dict[str, Any]:
    pitr = PrivatePostgres(platform.folder, "pitr")
    subprocess.run(["cp", "-a", str(platform.base), str(pitr.folder)], check=True)
    with (pitr.folder / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"restore_command = 'cp {platform.archive}/%f %p'\n"
            f"recovery_target_time = '{moment}'\n"
            "recovery_target_timeline = 'current'\n"
            "recovery_target_action = 'promote'\n"
            "archive_mode = 'off'\n"
            "synchronous_standby_names = ''\n"
        )
    signal_file = pitr.folder / "recovery.signal"
    signal_file.touch()
    if os.geteuid() == 0:
        shutil.chown(signal_file, "postgres", "postgres")
    started = time.monotonic()
    pitr.start()
    try:

        def recovered() -> bool:
            with psycopg.connect(pitr.url("ledgerline_owner"), autocommit=True) as conn:
                return not (conn.execute("SELECT pg_is_in_recovery()").fetchone() or (True,))[0]

        wait_for("point-in-time recovery", recovered, timeout=300)
        seconds = time.monotonic() - started
        with psycopg.connect(pitr.url("ledgerline_owner"), autocommit=True) as conn:
            found = conn.execute(COUNTS).fetchone()
        env = {
            **{k: v for k, v in platform.env.items() if not k.startswith("DATABASE_")},
            "DATABASE_URL": pitr.url("ledgerline_app"),
            "DATABASE_OWNER_URL": pitr.url("ledgerline_owner"),
        }
        verified = subprocess.run(
            [sys.executable, "manage.py", "verify_ledger"], cwd=ROOT, env=env, capture_output=True, text=True
        )
    finally:
        pitr.stop()
    counts = (int(found[0]), int(found[1])) if found else (-1, -1)
    return {
        "target": str(moment),
        "recovery_seconds": round(seconds, 1),
        "expected": {"payments": expected[0], "journal_transactions": expected[1]},
        "recovered": {"payments": counts[0], "journal_transactions": counts[1]},
        "matches": counts == expected,
        "verify_ledger": [line for line in verified.stdout.splitlines() if line.startswith("ledger verified")]
        or (verified.stdout + verified.stderr).strip().splitlines()[-3:],
        "ledger_verified": verified.returncode == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=1.0, help="phase 1's traffic")
    parser.add_argument("--merchants", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=12, help="phase 1's clients")
    parser.add_argument("--rate", type=float, default=4.0, help="phase 1's operations per second")
    parser.add_argument(
        "--provider-faults", type=float, default=0, help="mean seconds between provider faults (0: none)"
    )
    parser.add_argument("--drain-seconds", type=float, default=150)
    parser.add_argument("--writers", type=int, default=4, help="phase 2's clients creating payments")
    parser.add_argument("--writer-pause", type=float, default=0.2, help="seconds between a writer's payments")
    parser.add_argument("--failover-after", type=float, default=10, help="seconds of phase 2 before the crash")
    parser.add_argument("--after-failover", type=float, default=5, help="seconds of traffic once it serves again")
    parser.add_argument("--synchronous", action="store_true", help="synchronous replication (RPO 0 by design)")
    parser.add_argument("--pool-size", type=int, default=20, help="pgbouncer's server connections")
    parser.add_argument("--keep", action="store_true", help="keep the folder even when everything passed")
    args = parser.parse_args()

    ensure_pgbouncer()
    folder = Path(tempfile.mkdtemp(prefix=f"ledgerline-multihost-{args.seed}-"))
    os.chmod(folder, 0o755)  # noqa: S103 - the private PostgreSQL and pgbouncer run as postgres and must reach it
    platform = MultiHost(folder, args.seed, synchronous=args.synchronous, pool_size=args.pool_size)
    print(f"multihost: seed {args.seed}, folder {folder}", flush=True)
    summary: dict[str, Any] = {"seed": args.seed, "synchronous_replication": args.synchronous}
    began = time.monotonic()
    try:
        platform.setup()
        print(f"multihost: platform up after {time.monotonic() - began:.0f}s", flush=True)
        merchants = [platform.merchant(n) for n in range(args.merchants)]
        hooks = receiver()
        summary["hosts_die"] = hosts_die(platform, args, merchants, hooks.server_address[1])
        print(f"multihost: phase 1 audit ok={summary['hosts_die']['audit']['ok']}; failover next", flush=True)
        platform.revive()
        moment, expected = recovery_target(platform)
        failover = asyncio.run(write_through_failover(platform, args, merchants[0][1]))
        acked = failover.pop("acked")
        summary["failover"] = {**failover, **data_lost(platform, acked)}
        print(f"multihost: failover RTO {failover['rto_seconds']}s; draining on the promoted replica", flush=True)
        left = drain(platform, args.drain_seconds)
        after = audit(platform, merchants)
        summary["after_failover"] = {
            "left_after_drain": left,
            "audit": {k: after[k] for k in ("ok", "by_check", "counts")},
            "findings": after["findings"][:30],
        }
        print("multihost: point-in-time recovery", flush=True)
        summary["point_in_time_recovery"] = point_in_time_recovery(platform, moment, expected)
        hooks.shutdown()
        summary["webhooks_received"] = _Hook.received["webhooks_received"]
    finally:
        platform.stop()
    phase1_ok = bool(summary["hosts_die"]["audit"]["ok"])
    pitr_ok = summary["point_in_time_recovery"]["matches"] and summary["point_in_time_recovery"]["ledger_verified"]
    # Asynchronous replication may lose the last transactions (that is the RPO measured); synchronous may not, so
    # then nothing may be lost and the auditor must find the promoted database whole.
    rpo_ok = not args.synchronous or (
        summary["failover"]["acknowledged_payments_lost"] == 0 and summary["after_failover"]["audit"]["ok"]
    )
    summary["verdict"] = "PASS" if phase1_ok and pitr_ok and rpo_ok else "FAIL"
    summary["minutes"] = round((time.monotonic() - began) / 60, 1)
    print(json.dumps(summary, indent=2, default=str))
    f = summary["failover"]
    print(
        f"multihost: hosts killed, audit {'CLEAN' if phase1_ok else 'FINDINGS'}; failover RTO {f['rto_seconds']}s, "
        f"RPO {f['acknowledged_payments_lost']} acknowledged payments lost "
        f"({f['committed_on_old_primary_but_lost']} committed on the old primary); "
        f"point-in-time recovery {'matched' if pitr_ok else 'DID NOT MATCH'}: {summary['verdict']}"
    )
    if summary["verdict"] == "PASS" and not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"multihost: logs and data kept in {folder}")
    return 0 if summary["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
