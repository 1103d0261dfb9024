"""The learner in its own process (``online/learner_proc.py``) against a real redis-server:
it decides what the thread learner decides, hands the serving process what precheck reads,
learns every queued row exactly once or sheds it and counts it, and never outlives its server.

Each check runs in a child interpreter: the process learner freezes the serving process's heap
(``gc.freeze``), which would keep the test session's own garbage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .conftest import REC_SCRIPT, make_store

COMMON = rf"""
import json, re, sys
from distillguard.online.scorer import Learner, OnlineScorer
from distillguard.online.learner_proc import ProcessLearner

{REC_SCRIPT}
def scorer(data, policy, url, process):
    s = OnlineScorer(data, policy, state=url, featurize_process=process)
    s.event_time = True
    return s

def wall(reasons):  # an active action's start is wall time: equal runs differ in the minute
    return [re.sub(r"since \d+-\d+-\d+ \d+:\d+", "since T", r) for r in reasons]

def lines(s, word):
    return sorted(l for l in s.metrics.render().splitlines() if word in l and l[0] != "#")
"""

ALIKE = (
    COMMON
    + r"""
data, policy, url = sys.argv[1:4]
out = {}
for name, db, process in (("thread", "1", False), ("process", "2", True)):
    s = scorer(data + name, policy, url[:-1] + db, process)
    for i in range(400):
        s.learn(rec(i))  # no precheck: its token takes would race the learner's
    assert s._learner.wait_idle(120)
    full = [s.full_decision(rec(i)["request_id"]) for i in range(400)]
    out[name] = {
        "kind": type(s._learner).__name__,
        "full": [[d.action, d.rule, round(d.risk, 9), wall(d.reasons)] for d in full],
        "last": {a: [v[0], wall(v[1])] for a, v in s._last.items()},
        "active": sorted(s._active),
        "metrics": lines(s, "decisions_total") + lines(s, "actions_total"),
        # the next request of each account, decided on the fast path from what was learned
        "next": [{**d, "reasons": wall(d["reasons"])} for d in
                 (s.precheck(a, "next").to_dict() for a in ACCOUNTS)],
    }
    s.close()
print(json.dumps(out))
"""
)

SHED = (
    COMMON
    + r"""
data, policy, url = sys.argv[1:4]
s = scorer(data, policy, url, True)
s._learner = ProcessLearner(s, max_queue=20)
n = 600
for i in range(n):
    s.learn(rec(i))  # a burst far faster than the child learns: the queue fills
learner = s._learner
assert learner.wait_idle(120)
decided = [i for i in range(n) if s.full_decision(rec(i)["request_id"]) is not None]
print(json.dumps({
    "sent": learner.sent, "done": learner.done, "decided": len(decided),
    "dropped": s.metrics.value("distillguard_learn_dropped_total"),
    "scored": sum(float(l.split()[-1]) for l in lines(s, "decisions_total") if 'source="score"' in l),
    "queue": s.metrics.value("distillguard_learn_queue"),
}))
s.close()
"""
)


def _run(script: str, *args: str) -> dict:
    # one linkage secret for both runs (each scorer draws its own otherwise: its jitter
    # moves risks); the learner process inherits it
    env = {**os.environ, "DISTILLGUARD_LINKAGE_SECRET": "test-secret"}
    res = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _policy(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(
        yaml.safe_dump(
            {"online": {"shadow": False}, "linkage": {"delay_min_s": 0.0, "delay_max_s": 0.0}}
        )
    )
    return p


def test_process_learner_decides_as_the_thread_learner(redis_url: str, tmp_path: Path) -> None:
    # one store each: the actions a run persists must not be the other's
    for name in ("thread", "process"):
        make_store(tmp_path / f"data{name}")
    out = _run(ALIKE, str(tmp_path / "data"), str(_policy(tmp_path)), redis_url)
    thread, proc = out["thread"], out["process"]
    assert thread["kind"] == "Learner" and proc["kind"] == "ProcessLearner"
    assert proc["full"] == thread["full"]
    assert {a[0] for a in proc["full"]} >= {"block", "allow"}  # real decisions, not all alike
    assert proc["last"] == thread["last"] and proc["active"] == thread["active"]
    assert proc["active"]  # the learner persisted actions, and this process saw them at once
    assert proc["metrics"] == thread["metrics"]
    assert proc["next"] == thread["next"]


def test_every_row_learned_once_or_shed_and_counted(
    store_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    out = _run(SHED, str(store_dir), str(_policy(tmp_path)), redis_url)
    assert out["dropped"] > 0 and out["sent"] > 0  # the bound held and the child learned
    assert out["sent"] + out["dropped"] == 600
    assert out["done"] == out["sent"] == out["decided"] == out["scored"]
    assert out["queue"] == 0


RESTART = (
    COMMON
    + r"""
import os, signal, time
data, policy, url = sys.argv[1:4]
s = scorer(data, policy, url, True)
learner = s.learner()
for i in range(50):
    s.learn(rec(i))
assert learner.wait_idle(120)
first = learner.process.pid
os.kill(first, signal.SIGKILL)
for i in range(50, 100):  # while it is dead and being replaced: learned or counted as shed
    s.learn(rec(i))
deadline = time.monotonic() + 120
while (learner.process.pid == first or not learner.wait_idle(1)) and time.monotonic() < deadline:
    time.sleep(0.1)
for i in range(100, 120):  # the new learner learns what comes next
    s.learn(rec(i))
assert learner.wait_idle(120)
decided = [i for i in range(120) if s.full_decision(rec(i)["request_id"]) is not None]
print(json.dumps({
    "restarted": learner.process.pid != first, "decided": len(decided),
    "after": sum(i >= 100 for i in decided),
    "dropped": s.metrics.value("distillguard_learn_dropped_total"),
    "exited": s.metrics.value("distillguard_observe_errors_total", reason="LearnerExited"),
    "sent": learner.sent, "done": learner.done,
}))
s.close()
"""
)


def test_a_learner_that_dies_is_replaced_and_its_rows_counted(
    store_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    out = _run(RESTART, str(store_dir), str(_policy(tmp_path)), redis_url)
    assert out["restarted"] and out["exited"] == 1
    assert out["after"] == 20  # every row after the restart learned
    assert out["decided"] + out["dropped"] == 120  # the rest counted as shed
    assert out["done"] == out["sent"]


ORPHAN = r"""
import sys, time
from distillguard.online.scorer import OnlineScorer
s = OnlineScorer(sys.argv[1], None, state=sys.argv[2], featurize_process=True)
s.learner()
print(s._learner.process.pid, flush=True)
time.sleep(120)
"""


def test_learner_process_exits_when_server_is_killed(store_dir: Path, redis_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN, str(store_dir), redis_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert os.path.exists(f"/proc/{child}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}"):
        time.sleep(0.2)
    alive = os.path.exists(f"/proc/{child}") and "Z" not in _state(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the learner process outlived its server"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_batch_result_chunks_keep_rows_order_and_enforcement_first() -> None:
    from distillguard.online.learner_proc import BatchResult
    from distillguard.online.scorer import Decision

    decisions = [Decision(f"r{i}", f"a{i % 9}", "allow", 0.1, 0.1, None) for i in range(70)]
    last = [(f"a{i}", ({"risk": 0.1}, [])) for i in range(9)]
    res = BatchResult(
        70, decisions, last, [("account:a1", {"id": 1})], [("account:a2", 5)],
        [(("a3", "r"), (1.0, 0))], {("c", "doc", ()): 3.0}, {("h", "doc", ()): [0.1]}, True,
    )
    parts = res.chunks(32)
    assert [p.n_rows for p in parts] == [32, 32, 6]
    assert [d for p in parts for d in p.decisions] == decisions
    assert [x for p in parts for x in p.last] == last
    assert parts[0].activated and parts[0].dues and parts[0].audited
    assert not any(p.activated or p.dues or p.audited for p in parts[1:])
    assert parts[-1].counts == res.counts and not any(p.counts for p in parts[:-1])
    failed = BatchResult(40, [], [], [], [], [], {}, {}, False).chunks(32)  # a batch that raised
    assert sum(p.n_rows for p in failed) == 40
