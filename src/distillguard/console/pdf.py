"""Case reports as PDF, printed offline by a local headless Chromium (``--print-to-pdf``).

The HTML report is written to a private temporary folder and printed with networking
features off; Chromium gets a virtual-time budget so the inline plotly.js draws the figures
before the page is printed. No Chromium, no PDF: callers offer the HTML export instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import InvalidInputError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--no-pdf-header-footer", "--virtual-time-budget=8000",
)


def find_chromium() -> Path | None:
    """A local Chromium binary, or None."""
    env = os.environ.get("DISTILLGUARD_CHROMIUM")
    for cand in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        if cand and Path(cand).exists():
            return Path(cand)
    found = shutil.which("chromium")
    return Path(found) if found else None


def html_to_pdf(html: str, timeout_s: float = 90.0) -> bytes:
    """Print ``html`` to PDF bytes with the local Chromium; InvalidInputError without one."""
    chromium = find_chromium()
    if chromium is None:
        raise InvalidInputError(
            "PDF export needs a local Chromium (/usr/bin/chromium); export HTML instead"
        )
    with tempfile.TemporaryDirectory(prefix="dg-pdf-") as tmp:
        src, out = Path(tmp) / "case.html", Path(tmp) / "case.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [str(chromium), *_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--print-to-pdf={out}", src.as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise InvalidInputError(f"Chromium did not print the PDF within {timeout_s:.0f} s") from exc
        if not out.exists() or out.stat().st_size == 0:
            raise InvalidInputError("Chromium did not produce a PDF; export HTML instead")
        return out.read_bytes()
