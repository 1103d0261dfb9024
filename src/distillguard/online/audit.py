"""Append-only, hash-chained audit log (JSON Lines).

Every action the online service or the console takes is one line. Each entry carries
``seq``, ``ts``, ``prev_hash`` and ``hash`` where
``hash = sha256(prev_hash + canonical_json(entry without "hash"))``; changing, removing or
reordering any line breaks the chain from that line on, which :meth:`AuditLog.verify` reports.

Appends from several threads or processes are serialised with an exclusive ``fcntl`` lock on
the file itself, and the previous hash is re-read under the lock, so two writers never fork
the chain.

>>> import tempfile, pathlib
>>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
>>> e = log.append("block", "account", "acct-1", actor="policy", reason="known attack cluster")
>>> e["seq"], log.verify().ok
(1, True)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

GENESIS_HASH = "0" * 64
_TAIL_CHUNK = 65536


def canonical_json(obj: Any) -> str:
    """The byte-stable JSON the chain hashes: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, entry: dict) -> str:
    """sha256 over the previous hash and the canonical JSON of ``entry`` minus ``hash``."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`."""

    ok: bool
    n_entries: int
    first_bad_seq: int | None
    message: str


class AuditLog:
    """An append-only JSON Lines audit file at ``path``; each entry chained by sha256.

    ``fsync_interval_s`` = 0 (default) makes every append durable before it returns; the
    online scorer, which may write many entries a second, uses a group commit instead (fsync
    at most once per interval). Integrity does not depend on it: the chain detects any change.
    """

    def __init__(self, path: Path | str, fsync_interval_s: float = 0.0) -> None:
        self.path = Path(path)
        self.fsync_interval_s = fsync_interval_s
        self._last_sync = 0.0
        self._lock = threading.Lock()

    # ---- writing ------------------------------------------------------------------------
    def append(
        self,
        action: str,
        subject_kind: str,
        subject_id: str,
        actor: str,
        reason: str,
        evidence: list[dict] | None = None,
        rule: str | None = None,
        policy_version: str | None = None,
        extra: dict | None = None,
    ) -> dict:
        """Append one entry and return it (with ``seq``, ``ts``, ``prev_hash``, ``hash``)."""
        entry: dict[str, Any] = {
            "seq": 0,
            "ts": time.time(),
            "action": str(action),
            "subject_kind": str(subject_kind),
            "subject_id": str(subject_id),
            "actor": str(actor),
            "reason": str(reason),
            "evidence": list(evidence or []),
            "rule": rule,
            "policy_version": policy_version,
            "extra": dict(extra or {}),
            "prev_hash": GENESIS_HASH,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                last = _last_entry(fh)
                if last is not None:
                    entry["seq"] = int(last["seq"]) + 1
                    entry["prev_hash"] = last["hash"]
                else:
                    entry["seq"] = 1
                entry["hash"] = entry_hash(entry["prev_hash"], entry)
                fh.seek(0, os.SEEK_END)
                fh.write((canonical_json(entry) + "\n").encode("utf-8"))
                fh.flush()
                now = time.monotonic()
                if now - self._last_sync >= self.fsync_interval_s:
                    os.fsync(fh.fileno())
                    self._last_sync = now
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return entry

    # ---- reading ------------------------------------------------------------------------
    def entries(self, subject_id: str | None = None, limit: int | None = None) -> list[dict]:
        """Entries in file order (oldest first); ``limit`` keeps the newest ``limit``."""
        out: list[dict] = []
        if not self.path.exists():
            return out
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue  # verify() reports it; readers skip it
                if subject_id is None or e.get("subject_id") == subject_id:
                    out.append(e)
        if limit is not None:
            out = out[-int(limit) :] if limit > 0 else []
        return out

    def verify(self) -> VerifyResult:
        """Re-walk the chain; the first entry whose hash, link or sequence is wrong fails it."""
        if not self.path.exists():
            return VerifyResult(True, 0, None, f"{self.path}: no audit log yet (0 entries)")
        prev = GENESIS_HASH
        n = 0
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                expected_seq = n + 1
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    return VerifyResult(
                        False,
                        n,
                        expected_seq,
                        f"line {lineno}: not valid JSON (entry {expected_seq})",
                    )
                if not isinstance(e, dict) or "hash" not in e:
                    return VerifyResult(False, n, expected_seq, f"line {lineno}: entry has no hash")
                if e.get("seq") != expected_seq:
                    return VerifyResult(
                        False,
                        n,
                        expected_seq,
                        f"line {lineno}: seq {e.get('seq')!r}, expected {expected_seq} "
                        "(entry removed, inserted or reordered)",
                    )
                if e.get("prev_hash") != prev:
                    return VerifyResult(
                        False,
                        n,
                        expected_seq,
                        f"entry {expected_seq}: prev_hash does not match entry {expected_seq - 1}",
                    )
                if entry_hash(prev, e) != e["hash"]:
                    return VerifyResult(
                        False,
                        n,
                        expected_seq,
                        f"entry {expected_seq}: hash mismatch (entry content was changed)",
                    )
                prev = e["hash"]
                n += 1
        return VerifyResult(True, n, None, f"{self.path}: chain intact ({n} entries)")

    def __len__(self) -> int:
        with self._lock:
            if not self.path.exists():
                return 0
            with open(self.path, "rb") as fh:
                last = _last_entry(fh)
        return 0 if last is None else int(last["seq"])


def _last_entry(fh: Any) -> dict | None:
    """The last complete JSON line of an open binary file, read from the end."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return None
    chunk = _TAIL_CHUNK
    while True:
        start = max(0, size - chunk)
        fh.seek(start)
        data = fh.read(size - start)
        lines = data.rstrip(b"\n").split(b"\n")
        # The first piece may be a partial line unless we read from the file start.
        candidates = lines if start == 0 else lines[1:]
        for raw in reversed(candidates):
            if raw.strip():
                try:
                    return json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(
                        f"audit log {getattr(fh, 'name', '?')} ends with a damaged line; "
                        "run `distillguard audit verify`"
                    ) from exc
        if start == 0:
            return None
        chunk *= 4
