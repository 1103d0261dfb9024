"""Append-only audit log (JSON Lines), HMAC-chained, with signed checkpoints of its head.

Every action the online service or the console takes is one line. Each entry carries
``seq``, ``ts``, ``key_id``, ``prev_hash`` and ``hash`` where
``hash = HMAC-SHA256(key, prev_hash + canonical_json(entry without "hash"))``. Without the
key nobody can rewrite an entry and recompute the chain after it (a plain sha256 chain let
anyone who could write the file do exactly that).

After every append the writer also records a **checkpoint** — ``{count, hash, ts, key_id}``
signed with the key — in a file kept apart from the log (``DISTILLGUARD_AUDIT_CHECKPOINTS``,
default ``<data>/audit-checkpoints.jsonl``). :meth:`AuditLog.verify` compares the log with the
last checkpoint, so removing the last line, the last 1,000 lines or everything is caught;
:meth:`AuditLog.export_checkpoint` hands the head to another system (a ticket, a WORM bucket).

The key (see :class:`AuditKeyring`) comes from ``DISTILLGUARD_AUDIT_KEY_FILE`` (one key per
line, the first is current, the rest are retired keys kept for verifying older entries), else
``DISTILLGUARD_AUDIT_KEY``, else ``<data>/audit.key`` (created on first write, mode 0600).

A damaged tail — a half-written last line after a crash, or garbage appended to the file —
must not stop enforcement: the next append moves it aside to ``audit.jsonl.damaged-<time>``,
records an ``audit_repair`` entry with the removed bytes' sha256, calls ``on_alert`` and goes
on. ``distillguard audit repair`` does the same for damage anywhere in the file. A log found
shorter than, or different from, its last checkpoint is recorded as an ``audit_gap`` entry,
which verification reports for good.

Appends from several threads or processes are serialised with an exclusive ``fcntl`` lock on
the log itself, and the previous entry is re-read under the lock, so two writers never fork
the chain.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> log = AuditLog(d / "audit.jsonl", keyring=AuditKeyring.from_keys([b"k" * 32]))
>>> e = log.append("block", "account", "acct-1", actor="policy", reason="known attack cluster")
>>> e["seq"], log.verify().ok
(1, True)
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

GENESIS_HASH = "0" * 64
KEY_FILE_ENV = "DISTILLGUARD_AUDIT_KEY_FILE"
KEY_ENV = "DISTILLGUARD_AUDIT_KEY"
CHECKPOINTS_ENV = "DISTILLGUARD_AUDIT_CHECKPOINTS"
_TAIL_CHUNK = 65536

Alert = Callable[[str, dict], None]


def canonical_json(obj: Any) -> str:
    """The byte-stable JSON the chain hashes: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, entry: dict, key: bytes | None = None) -> str:
    """HMAC-SHA256 (plain sha256 when ``key`` is None: entries from before keyed chains)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    data = (prev_hash + canonical_json(body)).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name for a key (entries say which key signed them)."""
    return hashlib.sha256(b"distillguard-audit-key:" + key).hexdigest()[:12]


@dataclass(frozen=True)
class AuditKeyring:
    """The current key (first) and retired keys, by :func:`key_id`."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_keys(cls, keys: list[bytes]) -> AuditKeyring:
        if not keys:
            raise InvalidInputError("an audit keyring needs at least one key")
        return cls(tuple((key_id(k), k) for k in keys))

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, kid: str) -> bytes | None:
        return next((k for i, k in self.keys if i == kid), None)

    def rank(self, kid: str) -> int:
        """0 for the current key, higher for older ones (-1: unknown)."""
        return next((n for n, (i, _) in enumerate(self.keys) if i == kid), -1)

    @classmethod
    def load(cls, data_dir: Path, create: bool = False) -> AuditKeyring | None:
        """From the environment or ``data_dir/audit.key``; created there only if ``create``."""
        path = os.environ.get(KEY_FILE_ENV)
        if path:
            return cls._from_file(Path(path))
        if os.environ.get(KEY_ENV):
            return cls.from_keys([os.environ[KEY_ENV].encode("utf-8")])
        default = Path(data_dir) / "audit.key"
        if default.exists():
            return cls._from_file(default)
        if not create:
            return None
        default.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: a process starting at
        # the same moment sees either no key file or a complete one, never an empty one.
        tmp = default.with_name(f".audit.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, default)
        except FileExistsError:  # another process created it first: use theirs
            pass
        finally:
            tmp.unlink()
        return cls._from_file(default)

    @classmethod
    def _from_file(cls, path: Path) -> AuditKeyring:
        if not path.is_file():
            raise InvalidInputError(f"audit key file {path} does not exist")
        keys = [ln.strip().encode("utf-8") for ln in path.read_text().splitlines() if ln.strip()]
        if not keys:
            raise InvalidInputError(f"audit key file {path} holds no key")
        return cls.from_keys(keys)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`."""

    ok: bool
    n_entries: int
    first_bad_seq: int | None
    message: str


@dataclass
class _Tail:
    """The last good entry of the log, where it ends, and what follows it (damage)."""

    last: dict | None
    good_end: int
    size: int


class AuditLog:
    """An append-only JSON Lines audit file at ``path``, HMAC-chained and checkpointed.

    ``fsync_interval_s`` = 0 (default) makes every append durable before it returns; the
    online scorer, which may write many entries a second, uses a group commit instead (fsync
    at most once per interval). ``on_alert(kind, details)`` is called when the writer repairs
    a damaged tail or finds the log behind its checkpoint; enforcement goes on either way.
    """

    def __init__(
        self,
        path: Path | str,
        fsync_interval_s: float = 0.0,
        keyring: AuditKeyring | None = None,
        checkpoints: Path | str | None = None,
        on_alert: Alert | None = None,
    ) -> None:
        self.path = Path(path)
        self.fsync_interval_s = fsync_interval_s
        self._keyring = keyring
        env = os.environ.get(CHECKPOINTS_ENV)
        self.checkpoints = Path(checkpoints or env or self.path.parent / "audit-checkpoints.jsonl")
        self.on_alert = on_alert
        self._last_sync = 0.0
        self._lock = threading.Lock()

    # ---- keys ----------------------------------------------------------------------------
    def keyring(self, create: bool = False) -> AuditKeyring | None:
        if self._keyring is None:
            self._keyring = AuditKeyring.load(self.path.parent, create=create)
        return self._keyring

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
            "action": str(action),
            "subject_kind": str(subject_kind),
            "subject_id": str(subject_id),
            "actor": str(actor),
            "reason": str(reason),
            "evidence": list(evidence or []),
            "rule": rule,
            "policy_version": policy_version,
            "extra": dict(extra or {}),
        }
        ring = self.keyring(create=True)
        assert ring is not None  # create=True always yields a keyring
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                tail = self._sound_tail(fh, ring)
                written = self._write(fh, ring, tail.last, entry)
                self._sync(fh)
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return written

    def _write(self, fh: Any, ring: AuditKeyring, last: dict | None, body: dict) -> dict:
        """Chain ``body`` after ``last``, write it, and checkpoint the new head."""
        kid, key = ring.current
        entry = {
            "seq": int(last["seq"]) + 1 if last else 1,
            "ts": time.time(),
            **body,
            "key_id": kid,
            "prev_hash": last["hash"] if last else GENESIS_HASH,
        }
        entry["hash"] = entry_hash(entry["prev_hash"], entry, key)
        fh.seek(0, os.SEEK_END)
        fh.write((canonical_json(entry) + "\n").encode("utf-8"))
        fh.flush()
        self._checkpoint(ring, entry["seq"], entry["hash"])
        return entry

    def _sync(self, fh: Any) -> None:
        now = time.monotonic()
        if now - self._last_sync >= self.fsync_interval_s:
            os.fsync(fh.fileno())
            self._last_sync = now

    def _sound_tail(self, fh: Any, ring: AuditKeyring) -> _Tail:
        """The tail to chain onto: damage moved aside, entries lost since the checkpoint
        recorded as an ``audit_gap``."""
        tail = _read_tail(fh)
        cp = self.last_checkpoint()
        lost = cp is not None and _behind(tail.last, cp)
        if tail.good_end < tail.size:
            self._set_aside(fh, ring, tail, "damaged tail (half-written or invalid last line)")
        elif tail.size and _last_byte(fh) != b"\n":  # a whole entry whose newline was lost
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        if lost:
            self._record_gap(fh, ring, tail.last, cp)
        return _read_tail(fh)

    def _record_gap(self, fh: Any, ring: AuditKeyring, last: dict | None, cp: dict) -> None:
        found = {"count": int(last["seq"]) if last else 0, "hash": _hash(last)}
        details = {"checkpoint": cp, "found": found}
        self._alert("audit_gap", details)
        gap = _system_entry("audit_gap", "log shorter than or different from its checkpoint")
        gap["extra"] = details
        self._write(fh, ring, _read_tail(fh).last, gap)

    def _set_aside(self, fh: Any, ring: AuditKeyring, tail: _Tail, why: str) -> dict:
        """Move the bytes after the last good entry to a side file and record that."""
        fh.seek(tail.good_end)
        damaged = fh.read(tail.size - tail.good_end)
        side = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        side = _unique(side)
        side.write_bytes(damaged)
        fh.truncate(tail.good_end)
        details = {
            "set_aside": side.name,
            "bytes": len(damaged),
            "sha256": hashlib.sha256(damaged).hexdigest(),
            "after_seq": tail.last["seq"] if tail.last else 0,
        }
        self._alert("audit_repair", details)
        repair = _system_entry("audit_repair", why)
        repair["extra"] = details
        return self._write(fh, ring, tail.last, repair)

    def _alert(self, kind: str, details: dict) -> None:
        if self.on_alert is not None:
            try:
                self.on_alert(kind, details)
            except Exception:  # an alert hook must never stop an append
                pass

    # ---- checkpoints ------------------------------------------------------------------------
    def _checkpoint(self, ring: AuditKeyring, count: int, head: str) -> None:
        kid, key = ring.current
        cp = {"count": count, "hash": head, "ts": time.time(), "key_id": kid}
        cp["sig"] = _sign(key, cp)
        self.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        with open(self.checkpoints, "ab") as fh:
            fh.write((canonical_json(cp) + "\n").encode("utf-8"))

    def last_checkpoint(self) -> dict | None:
        """The newest checkpoint line (unverified), or None when there is none."""
        if not self.checkpoints.exists():
            return None
        with open(self.checkpoints, "rb") as fh:
            for raw in _lines_from_end(fh):
                try:
                    cp = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(cp, dict) and {"count", "hash", "sig"} <= cp.keys():
                    return cp
        return None

    def export_checkpoint(self) -> dict:
        """The newest signed checkpoint, to keep somewhere the log's writers cannot reach."""
        cp = self.last_checkpoint()
        if cp is None:
            raise InvalidInputError(f"no checkpoint at {self.checkpoints}")
        return {**cp, "log": str(self.path)}

    # ---- repair -------------------------------------------------------------------------------
    def repair(self) -> dict | None:
        """Move everything from the first unreadable or broken entry on aside (audited).

        Returns the ``audit_repair`` entry, or None when there was nothing to repair.
        """
        ring = self.keyring(create=True)
        assert ring is not None
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                last, good_end = _first_break(fh, ring)
                if good_end >= size:
                    return None
                cp = self.last_checkpoint()
                repaired = self._set_aside(
                    fh,
                    ring,
                    _Tail(last, good_end, size),
                    "audit repair: damaged entries moved aside",
                )
                if cp is not None and _behind(last, cp):
                    self._record_gap(fh, ring, last, cp)
                self._sync(fh)
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return repaired

    # ---- reading ------------------------------------------------------------------------
    def entries(self, subject_id: str | None = None, limit: int | None = None) -> list[dict]:
        """Entries in file order (oldest first); ``limit`` keeps the newest ``limit``."""
        out: list[dict] = []
        if not self.path.exists():
            return out
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue  # verify() reports it; readers skip it
                if isinstance(e, dict) and (
                    subject_id is None or e.get("subject_id") == subject_id
                ):
                    out.append(e)
        if limit is not None:
            out = out[-int(limit) :] if limit > 0 else []
        return out

    def verify(self, checkpoint: dict | None = None) -> VerifyResult:
        """Re-walk the chain with the key and compare its head with the last checkpoint.

        ``checkpoint`` (an exported one) is used instead of the checkpoint file when given.
        """
        if not self.path.parent.is_dir():
            return VerifyResult(False, 0, None, f"{self.path.parent}: data folder not found")
        if not self.path.exists():
            return VerifyResult(False, 0, None, f"{self.path}: no audit log")
        try:
            ring = self.keyring(create=False)
        except InvalidInputError as exc:
            return VerifyResult(False, 0, None, str(exc))
        if ring is None:
            return VerifyResult(
                False, 0, None, f"no audit key ({KEY_FILE_ENV}, {KEY_ENV} or audit.key)"
            )
        cp = checkpoint if checkpoint is not None else self.last_checkpoint()
        walk = _Walk(ring, _count(cp))
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if raw.strip() and not walk.step(lineno, raw):
                    return walk.result
        return walk.against(cp, ring, self.checkpoints)

    def __len__(self) -> int:
        with self._lock:
            if not self.path.exists():
                return 0
            with open(self.path, "rb") as fh:
                last = _read_tail(fh).last
        return 0 if last is None else int(last["seq"])


class _Walk:
    """The state of one :meth:`AuditLog.verify` pass over the lines of the log."""

    def __init__(self, ring: AuditKeyring, want_seq: int = 0) -> None:
        self.ring = ring
        self.prev = GENESIS_HASH
        self.n = 0
        self.legacy = 0
        self.rank = len(ring.keys)  # keys may only get newer along the chain
        self.want_seq = want_seq  # the checkpoint's count: its entry's hash is kept
        self.wanted_hash: str | None = None
        self.repairs: list[int] = []
        self.gaps: list[int] = []
        self.result = VerifyResult(True, 0, None, "")

    def fail(self, seq: int, message: str) -> bool:
        self.result = VerifyResult(False, self.n, seq, message)
        return False

    def step(self, lineno: int, raw: bytes) -> bool:
        seq = self.n + 1
        try:
            e = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self.fail(seq, f"line {lineno}: not valid JSON (entry {seq})")
        if not isinstance(e, dict) or "hash" not in e:
            return self.fail(seq, f"line {lineno}: entry has no hash")
        if e.get("seq") != seq:
            return self.fail(
                seq,
                f"line {lineno}: seq {e.get('seq')!r}, expected {seq} "
                "(entry removed, inserted or reordered)",
            )
        if e.get("prev_hash") != self.prev:
            return self.fail(seq, f"entry {seq}: prev_hash does not match entry {seq - 1}")
        problem = self._check_key(e)
        if problem:
            return self.fail(seq, f"entry {seq}: {problem}")
        self.prev = e["hash"]
        self.n = seq
        if seq == self.want_seq:
            self.wanted_hash = e["hash"]
        if e.get("action") == "audit_repair":
            self.repairs.append(seq)
        if e.get("action") == "audit_gap":
            self.gaps.append(seq)
        return True

    def _check_key(self, e: dict) -> str | None:
        kid = e.get("key_id")
        if kid is None:  # written before keyed chains: only allowed before the first keyed one
            if self.rank < len(self.ring.keys):
                return "unkeyed entry after keyed ones"
            self.legacy += 1
            return None if entry_hash(self.prev, e) == e["hash"] else "hash mismatch"
        key = self.ring.get(kid)
        if key is None:
            return f"signed with unknown key {kid}"
        rank = self.ring.rank(kid)
        if rank > self.rank:
            return f"signed with retired key {kid} after a newer one"
        self.rank = rank
        if entry_hash(self.prev, e, key) != e["hash"]:
            return "hash mismatch (entry content was changed, or another key)"
        return None

    def against(self, cp: dict | None, ring: AuditKeyring, where: Path) -> VerifyResult:
        """The final verdict: chain walked; now the head against the checkpoint."""
        n = self.n
        if cp is None:
            if n == 0:
                return VerifyResult(True, 0, None, "empty audit log")
            return VerifyResult(False, n, None, f"no checkpoint found at {where}")
        key = ring.get(str(cp.get("key_id")))
        body = {k: v for k, v in cp.items() if k not in ("sig", "log")}
        if key is None or not hmac.compare_digest(_sign(key, body), str(cp.get("sig"))):
            return VerifyResult(False, n, None, "checkpoint signature invalid")
        count = _count(cp)
        if n < count:
            return VerifyResult(
                False,
                n,
                n + 1,
                f"log truncated: {n} entries, the checkpoint of {_when(cp)} counted {count}",
            )
        if self.wanted_hash != cp["hash"]:
            return VerifyResult(
                False, n, count, f"entry {count} differs from the checkpoint of {_when(cp)}"
            )
        if self.gaps:
            return VerifyResult(
                False,
                n,
                self.gaps[0],
                f"entry {self.gaps[0]}: the writer found the log truncated or rewritten "
                "(audit_gap)",
            )
        notes = f"; {len(self.repairs)} repair(s) at {self.repairs}" if self.repairs else ""
        if self.legacy:
            notes += f"; {self.legacy} unkeyed entries from before keyed chains"
        return VerifyResult(True, n, None, f"chain intact ({n} entries){notes}")


def _when(cp: dict) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(cp.get("ts", 0))))


def _sign(key: bytes, body: dict) -> str:
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def _hash(entry: dict | None) -> str:
    return entry["hash"] if entry else GENESIS_HASH


def _count(cp: dict | None) -> int:
    """A checkpoint's entry count (0 for none or a malformed one)."""
    try:
        return int(cp["count"]) if cp else 0
    except (KeyError, TypeError, ValueError):
        return 0


def _behind(last: dict | None, cp: dict) -> bool:
    """True when the log's head lost entries the checkpoint had, or has another at its seq."""
    count = int(last["seq"]) if last else 0
    cp_count = _count(cp)
    return count < cp_count or (count == cp_count and _hash(last) != cp.get("hash"))


def _system_entry(action: str, reason: str) -> dict:
    return {
        "action": action,
        "subject_kind": "audit",
        "subject_id": "audit.jsonl",
        "actor": "distillguard",
        "reason": reason,
        "evidence": [],
        "rule": None,
        "policy_version": None,
        "extra": {},
    }


def _unique(path: Path) -> Path:
    n = 1
    out = path
    while out.exists():
        n += 1
        out = path.with_name(f"{path.name}.{n}")
    return out


def _parse_entry(raw: bytes) -> dict | None:
    try:
        e = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(e, dict) and isinstance(e.get("seq"), int) and isinstance(e.get("hash"), str):
        return e
    return None


def _lines_from_end(fh: Any) -> Iterator[bytes]:
    """Complete non-empty lines of an open binary file, newest first, read in chunks."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    carry = b""
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        fh.seek(start)
        data = fh.read(end - start) + carry
        pieces = data.split(b"\n")
        carry = pieces[0] if start > 0 else b""
        for raw in reversed(pieces if start == 0 else pieces[1:]):
            if raw.strip():
                yield raw
        end = start


def _read_tail(fh: Any) -> _Tail:
    """The last good entry and the offset where its line ends; anything after is damage."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    chunk = _TAIL_CHUNK
    while True:
        start = max(0, size - chunk)
        fh.seek(start)
        pieces = fh.read(size - start).split(b"\n")
        ends, pos = [], start
        for piece in pieces:
            pos += len(piece)
            ends.append(pos)  # where the piece ends; its newline (if any) is at this offset
            pos += 1
        # Unless read from the file start, the first piece may be the end of a longer line.
        first = 0 if start == 0 else 1
        for piece, end in zip(reversed(pieces[first:]), reversed(ends[first:]), strict=True):
            entry = _parse_entry(piece) if piece.strip() else None
            if entry is not None:
                return _Tail(entry, min(end + 1, size), size)
        if start == 0:
            return _Tail(None, 0, size)
        chunk *= 4


def _first_break(fh: Any, ring: AuditKeyring) -> tuple[dict | None, int]:
    """The last entry of the sound prefix of the log and the offset where it ends."""
    walk = _Walk(ring)
    fh.seek(0)
    good_end, last, offset = 0, None, 0
    for lineno, raw in enumerate(iter(fh.readline, b""), start=1):
        offset += len(raw)
        if not raw.strip():
            continue
        if not raw.endswith(b"\n") or not walk.step(lineno, raw):
            break
        last, good_end = json.loads(raw), offset
    return last, good_end


def _last_byte(fh: Any) -> bytes:
    fh.seek(-1, os.SEEK_END)
    return fh.read(1)
