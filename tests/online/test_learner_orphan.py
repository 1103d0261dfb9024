"""A scorer killed without ``close()`` must not leave its featurizer process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

CHILD = r"""
import time
from distillguard.online.scorer import Learner

class Scorer:  # the learner only needs metrics until rows arrive
    class metrics:
        @staticmethod
        def gauge(*a, **k): pass
        @staticmethod
        def counter(*a, **k): pass

Learner(Scorer(), process=True)
print("ready", flush=True)
time.sleep(60)
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_featurizer_process_exits_when_scorer_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        kids: list[int] = []
        while not kids and time.monotonic() < deadline:
            kids = _children(proc.pid)
            time.sleep(0.2)
        assert kids, "the learner started no featurizer process"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{k}") for k in kids):
        time.sleep(0.2)
    alive = [k for k in kids if os.path.exists(f"/proc/{k}")]
    for k in alive:  # don't leak them from the test either
        os.kill(k, signal.SIGKILL)
    assert not alive, f"featurizer processes outlived their scorer: {alive}"
