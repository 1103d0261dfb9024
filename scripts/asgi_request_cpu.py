"""CPU per ``POST /v1/score`` of the scoring app itself (framework + handler), in process.

No sockets and no uvicorn: the ASGI app is called directly, and the calling thread's CPU time
is read, so the background learner does not count. Useful to compare two trees in one run on a
noisy machine (wrk figures there mostly measure the load):

    PYTHONPATH=src python scripts/asgi_request_cpu.py --requests 5000

``--featurize-process`` learns as ``distillguard serve`` does (a learner process, or with
an older tree a thread featurizing in a separate process); the "process" figure is then this
process's CPU (every thread, after the learner went idle) per request, and "children" that
of its child processes (the learner process, or the featurizer process).

``--rate R`` sends the requests paced at R per second instead of back to back and reports
each answer's delay from its scheduled start to its end (p50 / p99 / max): what waiting for
the GIL a background learner holds costs an answer, without sockets or wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from typing import Any

from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

T0 = 1_767_225_600_000


def _scope(app: Any, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/score",
        "raw_path": b"/v1/score",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", b"Bearer tok"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }


def _body(i: int, n_accounts: int) -> bytes:
    return json.dumps(
        {
            "request_id": f"r{i}",
            "ts": T0 + i,
            "account_id": f"a{i % n_accounts}",
            "model": "m",
            "messages": [{"role": "user", "content": f"Think step by step about problem {i}"}],
            "ip": f"10.0.0.{i % 250}",
        }
    ).encode()


def _child_cpu_s() -> float:
    """CPU seconds of this process's child processes so far (the learner or featurizer)."""
    total = 0.0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids = f.read().split()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # gone
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def measure(
    n: int,
    n_accounts: int = 2000,
    warmup: int = 300,
    featurize_process: bool = False,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Handler-thread CPU µs, process CPU µs and wall µs per request, and the status codes;
    with ``rate``, each answer's delay past its scheduled start."""
    scorer = OnlineScorer(
        tempfile.mkdtemp(), None, state="memory", featurize_process=featurize_process
    )
    app = create_app(scorer, "tok")
    statuses: set[int] = set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    # bodies are built before the clock starts: only the app is measured
    bodies = [_body(i, n_accounts) for i in range(warmup + n)]

    async def one(i: int) -> None:
        body = bodies[i]
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return pending.pop() if pending else {"type": "http.disconnect"}

        await app(_scope(app, body), receive, send)

    for i in range(warmup):
        await one(i)
    scorer.learner().wait_idle(60)
    child = _child_cpu_s()
    delays: list[float] = []
    cpu, proc, wall = time.thread_time(), time.process_time(), time.perf_counter()
    for i in range(warmup, warmup + n):
        if rate:
            due = wall + (i - warmup) / rate
            time.sleep(max(0.0, due - time.perf_counter()))  # releases the GIL, as a socket wait
        await one(i)
        if rate:
            delays.append((time.perf_counter() - due) * 1e3)
    cpu = time.thread_time() - cpu
    wall = time.perf_counter() - wall
    scorer.learner().wait_idle(120)
    proc = time.process_time() - proc
    child = _child_cpu_s() - child
    scorer.learner().stop()
    out = {
        "cpu_us": cpu / n * 1e6,
        "process_cpu_us": proc / n * 1e6,
        "children_cpu_us": child / n * 1e6,
        "wall_us": wall / n * 1e6,
        "statuses": sorted(statuses),
    }
    if delays:
        out.update(p50_ms=_pct(delays, 0.5), p99_ms=_pct(delays, 0.99), max_ms=max(delays))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--featurize-process", action="store_true", help="as `distillguard serve`")
    ap.add_argument("--rate", type=float, default=0.0, help="paced requests per second")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    r = asyncio.run(
        measure(args.requests, featurize_process=args.featurize_process, rate=args.rate)
    )
    if args.json:
        print(json.dumps(r))
    else:
        paced = (
            f", paced delay p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} max {r['max_ms']:.1f} ms"
            if args.rate
            else ""
        )
        print(
            f"{r['cpu_us']:.0f} CPU-µs per request (handler thread), "
            f"{r['process_cpu_us']:.0f} (process), {r['children_cpu_us']:.0f} (child processes), "
            f"wall {r['wall_us']:.0f} µs, statuses {r['statuses']}{paced}"
        )
