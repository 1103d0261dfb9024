"""The serving process's learner keeps its survivors out of the cyclic GC's full passes
(``gc.freeze``) without changing what it learns or decides; ``reload_results`` reclaims a cycle
that became garbage after it was frozen. In a child process: freezing would keep the test
session's own garbage."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import gc, json, tempfile, weakref
from distillguard.online.scorer import Learner, OnlineScorer

T0 = 1_767_225_600_000

def rec(i):
    return {"request_id": f"r{i}", "ts": T0 + 50 * i, "account_id": f"a{i % 40}", "model": "m",
            "messages": [{"role": "user", "content": f"Think step by step about problem {i}"}],
            "ip": f"10.0.0.{i % 7}"}

def run(freeze):
    scorer = OnlineScorer(tempfile.mkdtemp(), None, state="memory")
    scorer._learner = Learner(scorer, freeze_gc=freeze)
    for i in range(600):
        scorer.learn(rec(i))
    assert scorer._learner.wait_idle(60)
    out = [scorer.full_decision(f"r{i}") for i in range(600)]
    return scorer, [(d.action, d.rule, round(d.risk, 9), d.reasons) for d in out]

plain, want = run(False)
frozen_before = gc.get_freeze_count()
scorer, got = run(True)
tracked = {id(o) for o in gc.get_objects()}
states = list(scorer.state.accounts.values())

class Node:
    pass

node = Node()
node.self = node  # a cycle: only the cyclic GC frees it
ref = weakref.ref(node)
scorer._learner._gc._next_freeze = 0.0
scorer._learner._gc.after_batch()
del node
gc.collect()
alive_after_collect = ref() is not None
scorer.reload_results()
gc.collect(0)
scorer.learn(rec(600))  # one more batch reports the passes so far
assert scorer._learner.wait_idle(60)
metrics = scorer.metrics.render()
print(json.dumps({
    "gc_metric": 'distillguard_gc_seconds_count{generation="0"}' in metrics,
    "equal": got == want, "n": len(got),
    "frozen_grew": gc.get_freeze_count() > frozen_before,
    "states": len(states), "states_tracked": sum(id(s) in tracked for s in states),
    "alive_after_collect": alive_after_collect, "alive_after_reload": ref() is not None,
}))
"""


def test_frozen_learner_decides_alike_and_reload_reclaims_cycles() -> None:
    res = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=True
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["n"] == 600 and out["equal"]
    assert out["frozen_grew"]
    # every learned account's state is out of reach of a full pass
    assert out["states"] == 40 and out["states_tracked"] == 0
    assert out["alive_after_collect"] and not out["alive_after_reload"]
    assert out["gc_metric"]  # the passes' pauses are on /metrics
