"""The learner process with a memory state (``serve``'s default): the account state, linkage
index and token buckets live in the child, and the serving process decides exactly what it
decided when the learner was a thread sharing them: full decisions, what precheck reads, the
actions persisted, synchronous scores, events, sign-up notes, appeals and rate limits.

In a child interpreter: the process learner freezes the serving process's heap (``gc.freeze``),
which would keep the test session's own garbage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from distillguard.policy import default_policy

from .conftest import BENIGN, REC_SCRIPT, T0, make_store

SCRIPT = rf"""
import asyncio, json, re, sys
from distillguard.online.scorer import OnlineScorer

{REC_SCRIPT}
def solo(i):
    return {{"request_id": f"solo-r{{i}}", "ts": T0 + 30_000 + 2_000 * i, "account_id": "solo",
            "model": "frontier-1", "ip": "203.0.113.9", "user_agent": "solo-ua",
            "messages": [{{"role": "user", "content": BENIGN.format(i=i)}}]}}

def wall(reasons):  # an active action's start is wall time: equal runs differ in the minute
    return [re.sub(r"since \d+-\d+-\d+ \d+:\d+", "since T", r) for r in reasons]

def lines(s, word):
    return sorted(l for l in s.metrics.render().splitlines() if word in l and l[0] != "#")

def idle(s):
    assert s.learner().wait_idle(120)

def prechecks(s, tag, at):
    out = []
    for k, a in enumerate(ACCOUNTS):
        d = s.precheck(a, f"{{tag}}-{{a}}", ts_ms=T0 + at + k).to_dict()
        out.append({{**d, "reasons": wall(d["reasons"])}})
    return out

data, policy = sys.argv[1:3]
out = {{}}
for name, process in (("thread", False), ("process", True)):
    s = OnlineScorer(data + name, policy, state="memory", featurize_process=process)
    s.event_time = True
    for i in range(200):
        s.learn(rec(i))
    idle(s)
    # precheck takes tokens of the buckets the learner's decisions take from too
    first = prechecks(s, "p1", 50 * 200)
    s.learn_events([{{"account_id": a, "request_id": f"{{a}}-r{{k}}", "input_tokens": 10,
                     "output_tokens": 5, "status": 500}} for k, a in enumerate(ACCOUNTS[4:10])])
    s.linked.index.note_signup("acct-3", ["signup:domain:example.org:direct:0"])
    s.linked.index.note_signup("acct-4", ["signup:domain:example.org:direct:0"])
    for i in range(200, 400):
        s.learn(rec(i))
    idle(s)  # a thread learner's sync score races the rows still queued: not compared
    sync = [s.score(rec(i)) for i in range(400, 408)]  # blocking, then as the service awaits
    sync += [asyncio.run(s.score_async(rec(i))) for i in range(408, 416)]
    s.appeal("acct-5", "analyst", "test")
    for i in range(416, 500):
        s.learn(rec(i))
    idle(s)
    # a quiet account: the tokens precheck takes here are missing from the learner's bucket
    # unless they cross over (its last two rows are rate limited only if they do)
    for i in range(6):
        s.learn(solo(i))
    idle(s)
    took = [s.precheck("solo", f"solo-p{{k}}", ts_ms=T0 + 40_000 + k).action for k in range(2)]
    for i in range(6, 8):
        s.learn(solo(i))
    idle(s)
    full = [s.full_decision(rec(i)["request_id"]) for i in range(500)]
    full += [s.full_decision(solo(i)["request_id"]) for i in range(8)]
    out[name] = {{
        "kind": type(s._learner).__name__,
        "full": [[d.action, d.rule, round(d.risk, 9), wall(d.reasons)] for d in full],
        "sync": [[d.action, d.rule, round(d.risk, 9), wall(d.reasons)] for d in sync],
        "last": {{a: [v[0], wall(v[1])] for a, v in s._last.items()}},
        "active": sorted(s._active),
        "allowed": sorted(s._allowed),
        "metrics": lines(s, "decisions_total") + lines(s, "actions_total"),
        "accounts": s.metrics.value("distillguard_state_accounts"),
        "first": first,
        "took": took,
        "next": prechecks(s, "p2", 50 * 500),
    }}
    s.close()
print(json.dumps(out))
"""


def _policy(tmp_path: Path) -> Path:
    """The default rules, enforcing at once, and a rate limit on busy accounts
    (precheck can match it: its token takes cross the process boundary)."""
    # without the challenges, which outrank a rate limit: precheck then takes tokens
    rules = [r for r in default_policy().to_dict()["online"]["rules"] if r["action"] != "challenge"]
    errors = {"name": "errors", "when": {"error_rate": {">": 0.0}}, "action": "log"}
    busy = {
        "name": "busy",
        "when": {"n_window": {">=": 6}},
        "action": "rate_limit",
        "scope": "account",
        "expires_s": 3600,
        "rate_per_s": 0.05,
        "burst": 3,
    }
    p = tmp_path / "policy.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "online": {"shadow": False, "rules": [*rules, busy, errors]},
                "linkage": {"delay_min_s": 0.0, "delay_max_s": 0.0},
            }
        )
    )
    return p


def test_memory_state_learner_process_decides_as_the_thread(tmp_path: Path) -> None:
    for name in ("thread", "process"):  # one store each: actions persisted are per run
        make_store(tmp_path / f"data{name}")
    env = {**os.environ, "DISTILLGUARD_LINKAGE_SECRET": "test-secret"}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(_policy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    thread, proc = out["thread"], out["process"]
    assert thread["kind"] == "Learner" and proc["kind"] == "ProcessLearner"
    assert proc["full"] == thread["full"]
    actions = {a[0] for a in proc["full"]}
    assert {"block", "allow", "rate_limit"} <= actions  # real decisions, rate limits among them
    assert proc["sync"] == thread["sync"]
    assert proc["last"] == thread["last"] and proc["active"] == thread["active"]
    assert proc["allowed"] == thread["allowed"] == ["acct-5"]
    assert proc["metrics"] == thread["metrics"]
    assert proc["first"] == thread["first"] and proc["next"] == thread["next"]
    assert {d["action"] for d in proc["next"]} >= {"rate_limit"}  # buckets drained alike
    assert proc["accounts"] == thread["accounts"] == 17  # the child's state, counted here
    assert proc["took"] == thread["took"] == ["allow", "allow"]  # tokens taken here ...
    assert [d[0] for d in proc["full"][-2:]] == ["rate_limit"] * 2  # ... count in the child
    # events reached the child's state: what precheck reads of it has their error rate
    assert any(v[0].get("error_rate", 0) > 0 for v in proc["last"].values())


FAILS = rf"""
import json, os, signal, sys, threading, time
from distillguard.online.normalize import normalize_record
from distillguard.online.scorer import OnlineScorer

T0, BENIGN = {T0}, {BENIGN!r}

def row(i):
    return normalize_record({{"request_id": f"r{{i}}", "ts": T0 + i, "account_id": "a",
        "model": "m", "messages": [{{"role": "user", "content": BENIGN.format(i=i)}}]}})

s = OnlineScorer(sys.argv[1], None, state="memory", featurize_process=True)
learner = s.learner()
assert learner.score_now(row(0), timeout_s=120).request_id == "r0"  # a loaded machine's first
out = {{}}
pid = learner.process.pid
os.kill(pid, signal.SIGSTOP)  # a learner that does not answer in time
try:
    learner.score_now(row(1), timeout_s=0.5)
except TimeoutError:
    out["timeout"] = True
os.kill(pid, signal.SIGCONT)
assert learner.wait_idle(60)  # the late row is still learned, once
out["late_learned"] = s.full_decision("r1") is not None
os.kill(pid, signal.SIGSTOP)
got = {{}}

def wait():
    t = time.monotonic()
    try:
        learner.score_now(row(2), timeout_s=60)
    except RuntimeError as exc:
        got["error"], got["s"] = type(exc).__name__, time.monotonic() - t

waiter = threading.Thread(target=wait)
waiter.start()
time.sleep(0.3)
os.kill(pid, signal.SIGKILL)  # a learner that dies: the waiting score fails, not hangs
waiter.join(30)
out.update(got, restarted=learner.process.pid != pid)
out["after"] = learner.score_now(row(3)).request_id
print(json.dumps(out))
s.close()
"""


def test_a_sync_score_fails_on_a_stuck_or_dead_learner(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", FAILS, str(make_store(tmp_path / "data"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["timeout"] and out["late_learned"]
    assert out["error"] == "RuntimeError" and out["s"] < 20 and out["restarted"]
    assert out["after"] == "r3"  # the new learner scores the next one
