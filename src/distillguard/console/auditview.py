"""An incremental read cache over the audit log, for the console's pages.

``AuditLog.entries`` re-reads the whole file; the online service can append many entries a
minute, so every cluster page would pay for the log's full size. This reader keeps a byte
offset and, per page view, parses only the lines appended since; it keeps the newest few
entries per subject and overall. Writing stays with :class:`distillguard.online.audit.AuditLog`
(and ``verify()`` still walks the whole chain on the audit page).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path


class AuditView:
    """Newest audit entries per subject and overall, read incrementally from ``path``."""

    def __init__(self, path: Path | str, per_subject: int = 50, recent: int = 500) -> None:
        self.path = Path(path)
        self.per_subject = per_subject
        self._lock = threading.Lock()
        self._offset = 0
        self._by_subject: dict[str, deque] = {}
        self._recent: deque = deque(maxlen=recent)

    def _refresh(self) -> None:
        if not self.path.exists():
            self._reset()
            return
        size = self.path.stat().st_size
        if size < self._offset:  # truncated or replaced: start over
            self._reset()
        if size == self._offset:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(size - self._offset)
        end = data.rfind(b"\n")
        if end < 0:
            return  # a line still being written
        for raw in data[: end + 1].splitlines():
            if not raw.strip():
                continue
            try:
                e = json.loads(raw)
            except json.JSONDecodeError:
                continue  # verify() reports damage; readers skip it
            self._recent.append(e)
            sid = str(e.get("subject_id"))
            q = self._by_subject.get(sid)
            if q is None:
                q = self._by_subject[sid] = deque(maxlen=self.per_subject)
            q.append(e)
        self._offset += end + 1

    def _reset(self) -> None:
        self._offset = 0
        self._by_subject.clear()
        self._recent.clear()

    def entries(self, subject_id: str | None = None, limit: int = 30) -> list[dict]:
        """The newest ``limit`` entries (of one subject), newest first."""
        with self._lock:
            self._refresh()
            src = self._recent if subject_id is None else self._by_subject.get(subject_id, ())
            out = list(src)[-limit:] if limit > 0 else []
        return list(reversed(out))
