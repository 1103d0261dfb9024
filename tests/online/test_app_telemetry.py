"""FastAPI's native OpenTelemetry: off in the scoring app when nothing would receive it (its
per-request provider check was ~6 µs of a ~45 µs answer), on as soon as a provider is
configured before the app is built. In child interpreters: a global provider is set once."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys, tempfile
from opentelemetry import trace
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

if sys.argv[1] == "configured":
    trace.set_tracer_provider(trace.NoOpTracerProvider())  # an operator's provider
app = create_app(OnlineScorer(tempfile.mkdtemp()), "tok")
print(json.dumps({k: app._telemetry[k] for k in ("tracing", "metrics", "logs")}
                 | {"enabled": app._native_telemetry.enabled()}))
"""


def _run(mode: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_native_telemetry_off_without_a_provider() -> None:
    got = _run("none")
    assert got == {"tracing": False, "metrics": False, "logs": False, "enabled": False}


def test_native_telemetry_kept_with_a_configured_provider() -> None:
    got = _run("configured")
    assert got["tracing"] and got["enabled"]
