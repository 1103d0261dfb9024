"""Prometheus text-format metrics without a client library: counters, gauges, histograms.

Small and lock-free enough for one event loop; ``render()`` writes exposition format 0.0.4.

>>> m = Metrics()
>>> m.counter("dg_actions_total", "actions", action="block")
>>> "dg_actions_total{action=\\"block\\"} 1" in m.render()
True
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

# Latency buckets in seconds: 50 µs … 1 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


_LABEL_CACHE: dict[tuple, str] = {}


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    key = tuple(labels.items())
    got = _LABEL_CACHE.get(key)
    if got is not None:
        return got
    if len(_LABEL_CACHE) > 10000:
        _LABEL_CACHE.clear()
    _LABEL_CACHE[key] = _render_labels(labels)
    return _LABEL_CACHE[key]


def _render_labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{str(v)}"'.replace("\n", " ") for k, v in sorted(labels.items()))
    return "{" + inner + "}"


class Metrics:
    """A registry of named series; gauges may be callables read at render time."""

    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[tuple[str, str], float] = {}
        self._gauges: dict[tuple[str, str], float | Callable[[], float]] = {}
        self._hist: dict[tuple[str, str], list] = {}
        self._lock = threading.Lock()

    def _declare(self, name: str, kind: str, doc: str) -> None:
        if name not in self._help:
            self._help[name] = (kind, doc)

    def counter(self, name: str, doc: str, value: float = 1.0, **labels: str) -> None:
        self._declare(name, "counter", doc)
        key = (name, _labels(labels))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value

    def gauge(self, name: str, doc: str, value: float | Callable[[], float], **labels: str) -> None:
        self._declare(name, "gauge", doc)
        self._gauges[(name, _labels(labels))] = value

    def observe(self, name: str, doc: str, seconds: float, **labels: str) -> None:
        self._declare(name, "histogram", doc)
        key = (name, _labels(labels))
        with self._lock:
            h = self._hist.get(key)
            if h is None:
                h = self._hist[key] = [[0] * (len(LATENCY_BUCKETS) + 1), 0.0, 0]
            h[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            h[1] += seconds
            h[2] += 1

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 when never incremented)."""
        return self._counters.get((name, _labels(labels)), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name, (kind, doc) in sorted(self._help.items()):
            lines.append(f"# HELP {name} {doc}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "counter":
                for (n, lab), v in sorted(self._counters.items()):
                    if n == name:
                        lines.append(f"{n}{lab} {v:g}")
            elif kind == "gauge":
                for (n, lab), v in sorted(self._gauges.items(), key=lambda kv: kv[0]):
                    if n == name:
                        try:
                            val = float(v() if callable(v) else v)
                        except Exception:  # a gauge source that fails must not break /metrics
                            continue
                        lines.append(f"{n}{lab} {val:g}")
            else:
                for (n, lab), (counts, total, count) in sorted(self._hist.items()):
                    if n != name:
                        continue
                    base = lab[1:-1] if lab else ""
                    cum = 0
                    for le, c in zip(list(LATENCY_BUCKETS) + ["+Inf"], counts, strict=True):
                        cum += c
                        le_s = le if isinstance(le, str) else f"{le:g}"
                        sep = "," if base else ""
                        lines.append(f'{n}_bucket{{{base}{sep}le="{le_s}"}} {cum}')
                    lines.append(f"{n}_sum{lab} {total:.9g}")
                    lines.append(f"{n}_count{lab} {count}")
        return "\n".join(lines) + "\n"
