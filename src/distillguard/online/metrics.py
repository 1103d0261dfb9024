"""Prometheus metrics through ``prometheus-client``: counters, gauges, latency histograms.

A thin facade so call sites stay one line (``metrics.counter(name, doc, **labels)``): each
:class:`Metrics` owns its own ``CollectorRegistry`` (several scorers in one process, e.g. in
tests, do not collide), creates a series the first time it is named, and renders the
standard exposition format — label values are escaped by the library, not by hand.

>>> m = Metrics()
>>> m.counter("dg_actions_total", "actions", action='bl"ock')
>>> 'dg_actions_total{action="bl\\\\"ock"} 1.0' in m.render()
True
>>> m.value("dg_actions_total", action='bl"ock')
1.0
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _safe(source: Callable[[], float]) -> Callable[[], float]:
    """A gauge source that fails reads as NaN instead of breaking ``/metrics``."""

    def read() -> float:
        try:
            return float(source())
        except Exception:
            return math.nan

    return read


class Metrics:
    """Named series in a private registry; gauges may be callables read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[str, Any] = {}
        # (name, labels) -> the labelled child: ``labels()`` re-validates and re-sorts the
        # label names on every call, a fair part of a /v1/score answer's CPU.
        self._children: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def _get(self, kind: type, name: str, doc: str, labels: dict[str, str], **kw: Any) -> Any:
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new(kind, name, doc, labels, **kw)
        return child

    def _new(self, kind: type, name: str, doc: str, labels: dict[str, str], **kw: Any) -> Any:
        series = self._series.get(name)
        if series is None:
            with self._lock:
                series = self._series.get(name)
                if series is None:
                    series = kind(name, doc, sorted(labels), registry=self.registry, **kw)
                    self._series[name] = series
        return series.labels(**{k: str(v) for k, v in labels.items()}) if labels else series

    def counter(self, name: str, doc: str, value: float = 1.0, **labels: str) -> None:
        self._get(Counter, name, doc, labels).inc(value)

    def gauge(self, name: str, doc: str, value: float | Callable[[], float], **labels: str) -> None:
        g = self._get(Gauge, name, doc, labels)
        if callable(value):
            g.set_function(_safe(value))
        else:
            g.set(value)

    def observe(self, name: str, doc: str, seconds: float, **labels: str) -> None:
        self._get(Histogram, name, doc, labels, buckets=LATENCY_BUCKETS).observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's current value (0 when never set)."""
        got = self.registry.get_sample_value(name, {k: str(v) for k, v in labels.items()})
        return 0.0 if got is None else float(got)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
