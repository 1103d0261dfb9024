"""The analyst console and the static ``report.html``.

- :func:`write_report` (``console.report``): the self-contained findings page ``detect`` writes.
- :func:`create_app` (``console.app``): the FastAPI web console (``distillguard console``).
- ``console.plots`` / ``console.queries``: the figures and store queries both share.

Imports are lazy so ``distillguard --help`` does not load plotly, igraph or FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["write_report", "build_report_html", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("write_report", "build_report_html"):
        from . import report

        return getattr(report, name)
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
