"""CI's chaos run: one minute of seeded traffic and faults against the whole platform on loopback (its own
PostgreSQL cluster, Redis, sandbox and processes: bench/chaos.py), then the drain and the independent auditor,
which must find nothing. About three minutes; ``CHAOS_SEED`` replays another schedule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.chaos


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="the chaos run starts its own redis-server")
@pytest.mark.timeout(300)
def test_a_minute_of_chaos_loses_and_doubles_nothing():
    seed = os.environ.get("CHAOS_SEED", "7")
    done = subprocess.run(
        [sys.executable, "bench/chaos.py", "--seed", seed, "--minutes", "1", "--drain-seconds", "90"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=290,
    )
    out = done.stdout
    assert "{" in out, done.stdout + done.stderr[-4000:]
    summary = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert done.returncode == 0, json.dumps(summary["findings"], indent=2) + done.stderr[-4000:]
    assert summary["verdict"] == "CLEAN"
    # Clean because things happened: traffic went through, faults were injected, the auditor looked at it all.
    assert summary["operations"] > 20
    assert summary["faults_injected"] > 20
    assert summary["audit"]["counts"]["payments"] > 10
    assert summary["audit"]["counts"]["provider_records"] > 0
