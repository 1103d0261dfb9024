"""CPU per ``POST /v1/score`` of the scoring app itself (framework + handler), in process.

No sockets and no uvicorn: the ASGI app is called directly, and the calling thread's CPU time
is read, so the background learner does not count. Useful to compare two trees in one run on a
noisy machine (wrk figures there mostly measure the load):

    PYTHONPATH=src python scripts/asgi_request_cpu.py --requests 5000

``--featurize-process`` featurizes in a separate process as ``distillguard serve`` does; the
"process" figure is then this process's CPU (every thread: the handler and the learner's
per-row decisions, after it went idle) per request: what one worker pays in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def measure(
    n: int, n_accounts: int = 2000, warmup: int = 300, featurize_process: bool = False
) -> dict[str, Any]:
    """Handler-thread CPU µs, process CPU µs and wall µs per request, and the status codes."""
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
    cpu, proc, wall = time.thread_time(), time.process_time(), time.perf_counter()
    for i in range(warmup, warmup + n):
        await one(i)
    cpu = time.thread_time() - cpu
    wall = time.perf_counter() - wall
    scorer.learner().wait_idle(60)
    proc = time.process_time() - proc
    scorer.learner().stop()
    return {
        "cpu_us": cpu / n * 1e6,
        "process_cpu_us": proc / n * 1e6,
        "wall_us": wall / n * 1e6,
        "statuses": sorted(statuses),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--featurize-process", action="store_true", help="as `distillguard serve`")
    args = ap.parse_args()
    r = asyncio.run(measure(args.requests, featurize_process=args.featurize_process))
    print(f"{r['cpu_us']:.0f} CPU-µs per request (handler thread), "
          f"{r['process_cpu_us']:.0f} (process), wall {r['wall_us']:.0f} µs, "
          f"statuses {r['statuses']}")
