"""One contract request record (a dict) → one normalised row, for the online path.

The batch path validates many lines at once in SQL (``distillguard.ingest``); the scoring
service gets one record per call, so this is the per-record twin: the same checks and the same
normalised fields (``contract.NORMALIZED_REQUEST_SCHEMA``). A record that breaks the contract
raises :class:`RecordError` naming the field and the problem, which the service returns as a
422 with that message. ``tests/online/test_normalize.py`` checks that both paths agree.

>>> row = normalize_record({"request_id": "r1", "ts": "2026-01-01T00:00:00Z",
...     "account_id": "a", "model": "m", "messages": [{"role": "user", "content": "hi"}]})
>>> row["ts_ms"], row["prompt_text"], row["n_user_turns"]
(1767225600000, 'hi', 1)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from ..contract import (
    ACCESS_ROUTE_PREFIXES,
    NORMALIZED_REQUEST_SCHEMA,
    OPTIONAL_REQUEST_FIELDS,
    REQUIRED_REQUEST_FIELDS,
)
from ..errors import InvalidInputError

# Fields that leave the record as their own normalised column (everything else goes to extra).
_KNOWN = set(REQUIRED_REQUEST_FIELDS) | set(OPTIONAL_REQUEST_FIELDS)
_STRING_FIELDS = ("request_id", "account_id", "model")
# Optional fields stored under the same name, with the Arrow type of the normalised column.
_PASS_THROUGH = (
    "org_id",
    "api_key_id",
    "session_id",
    "ip",
    "user_agent",
    "country",
    "payment_fingerprint",
    "access_route",
    "tools",
    "max_tokens",
    "temperature",
    "stream",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "status",
    "latency_ms",
)
# Same bounds and RFC 3339 shape as the batch validator (``ingest/validate.py``): an integer
# outside [2000, 2100) is most likely epoch seconds or microseconds, not milliseconds.
_MIN_EPOCH_MS = 946_684_800_000
_MAX_EPOCH_MS = 4_102_444_800_000
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


class RecordError(InvalidInputError):
    """A request record breaks the data contract; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_ts(value: Any) -> int:
    """Contract ``ts`` (RFC 3339 with offset, or integer epoch ms) → epoch milliseconds."""
    if isinstance(value, bool):
        raise RecordError("ts", f"must be an RFC 3339 string or epoch milliseconds; got {value!r}")
    if isinstance(value, int):
        v = value
    elif isinstance(value, str):
        if not _RFC3339.match(value):
            raise RecordError("ts", f"not an RFC 3339 time with offset: {value!r}")
        s = value.upper().replace(" ", "T")
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        head, _, frac_tz = s.partition(".")
        if frac_tz:  # fromisoformat takes at most 6 fraction digits
            m = re.match(r"([0-9]+)(.*)", frac_tz)
            s = f"{head}.{m.group(1)[:6].ljust(6, '0')}{m.group(2)}"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise RecordError("ts", f"not a valid time: {value!r}") from None
        v = int(dt.timestamp() * 1000)
    else:
        raise RecordError("ts", f"must be an RFC 3339 string or epoch milliseconds; got {value!r}")
    if not _MIN_EPOCH_MS <= v < _MAX_EPOCH_MS:
        raise RecordError("ts", f"{value!r} is outside 2000-2100 (epoch milliseconds expected)")
    return v


def content_text(content: Any, field: str) -> str:
    """The text of a message ``content``: a string, or the text parts of a list joined by newline."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
            else:
                raise RecordError(f"{field}[{i}]", "a content part must be an object or a string")
        return "\n".join(texts)
    raise RecordError(field, "content must be a string or a list of parts")


def _check_optional(name: str, value: Any) -> Any:
    kind = OPTIONAL_REQUEST_FIELDS[name]
    if value is None:
        return None
    if kind == "string":
        if not isinstance(value, str):
            raise RecordError(name, f"must be a string; got {type(value).__name__}")
    elif kind == "list<string>":
        # Tool declarations: names, or objects with name / function.name (as the batch path).
        if not isinstance(value, list):
            raise RecordError(name, "must be a list of strings")
        names = []
        for v in value:
            if isinstance(v, Mapping):
                fn = v.get("function")
                v = (
                    v.get("name")
                    if isinstance(v.get("name"), str)
                    else (fn.get("name") if isinstance(fn, Mapping) else None)
                )
            if not isinstance(v, str):
                raise RecordError(name, "must be a list of strings (tool names)")
            names.append(v)
        return names
    elif kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise RecordError(name, f"must be a number; got {value!r}")
        return float(value)
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise RecordError(name, f"must be an integer; got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise RecordError(name, f"must be true or false; got {value!r}")
    elif kind == "string|integer":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise RecordError(name, f"must be a string or an integer; got {value!r}")
        return str(value)
    return value


def normalize_record(
    record: Mapping[str, Any], source_file: str = "api", source_line: int | None = None
) -> dict[str, Any]:
    """Validate one contract record and return its normalised row (a plain dict)."""
    if not isinstance(record, Mapping):
        raise RecordError("record", "must be a JSON object")
    for name in REQUIRED_REQUEST_FIELDS:
        if record.get(name) is None:
            raise RecordError(name, "required field is missing")
    for name in _STRING_FIELDS:
        v = record[name]
        if not isinstance(v, str) or not v.strip():
            raise RecordError(name, "must be a non-empty string")
    ts_ms = parse_ts(record["ts"])
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise RecordError("messages", "must be a non-empty list of {role, content}")
    prompt_text: str | None = None
    system_parts: list[str] = []
    n_user = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise RecordError(f"messages[{i}]", "must be an object with role and content")
        role = msg.get("role")
        if not isinstance(role, str):
            raise RecordError(f"messages[{i}].role", "must be a string")
        text = content_text(msg.get("content"), f"messages[{i}].content")
        if role == "user":
            n_user += 1
            prompt_text = text
        elif role in ("system", "developer"):
            system_parts.append(text)
        if msg.get("content") is not None and not isinstance(msg.get("content"), (str, list)):
            raise RecordError(f"messages[{i}].content", "must be a string or a list of parts")
    row: dict[str, Any] = {
        "request_id": record["request_id"],
        "ts_ms": ts_ms,
        "account_id": record["account_id"],
        "model": record["model"],
    }
    for name in _PASS_THROUGH:
        v = record.get(name)
        row[name] = None if v is None else _check_optional(name, v)
    row["reasoning"] = _check_optional("reasoning", record.get("reasoning"))
    system = _check_optional("system", record.get("system"))
    _check_optional("response_text", record.get("response_text"))
    route = row["access_route"]
    if route is not None and not (route == "direct" or route.startswith(ACCESS_ROUTE_PREFIXES[1:])):
        raise RecordError(
            "access_route", f"must be direct, cloud:<platform> or reseller:<name>; got {route!r}"
        )
    row["n_messages"] = len(messages)
    row["n_user_turns"] = n_user
    row["prompt_text"] = prompt_text if prompt_text is not None else ""
    row["prompt_chars"] = len(row["prompt_text"])
    # The ``system`` field when given, else the system/developer messages (as the batch path).
    row["system_text"] = system if system else ("\n".join(system_parts) or None)
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    row["extra"] = json.dumps(extra, sort_keys=True, default=str) if extra else None
    row["source_file"] = source_file
    row["source_line"] = source_line
    return row


def rows_to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """Normalised rows → one Arrow batch with ``contract.NORMALIZED_REQUEST_SCHEMA``."""
    cols = [pa.array([r.get(f.name) for r in rows], type=f.type) for f in NORMALIZED_REQUEST_SCHEMA]
    return pa.RecordBatch.from_arrays(cols, schema=NORMALIZED_REQUEST_SCHEMA)


# Oversized records are scored on a bounded head and tail of each text rather than refused:
# a refusal is a failure to decide, and a padded prompt must not buy an allow.
TRUNCATION_MARK = "\n[…]\n"
_MIN_KEEP_CHARS = 64
_MAX_KEPT_MESSAGES = 64


def _cut(text: str, keep: int) -> str:
    """``text`` reduced to its first and last ``keep // 2`` characters around a marker."""
    if len(text) <= keep:
        return text
    half = max(1, keep // 2)
    return text[:half] + TRUNCATION_MARK + text[-half:]


def _cut_content(content: Any, keep: int) -> Any:
    if isinstance(content, str):
        return _cut(content, keep)
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(_cut(part, keep))
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                out.append({**part, "text": _cut(part["text"], keep)})
            else:
                out.append(part)
        return out
    return content


def _json_size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8"))


def bound_record(record: Mapping[str, Any], max_bytes: int) -> tuple[dict[str, Any], bool]:
    """``record`` cut down to at most about ``max_bytes`` of JSON; True when it was cut.

    Long texts keep their head and tail (where instructions and output formats usually sit),
    a very long conversation keeps its first and last messages, and the cut is marked in
    ``extra`` so evidence shows it. Non-text fields are left as they are; if those alone
    exceed the budget the caller still gets a smaller record and decides what to do.
    """
    rec = dict(record)
    if _json_size(rec) <= max_bytes:
        return rec, False
    messages = rec.get("messages")
    if isinstance(messages, list) and len(messages) > _MAX_KEPT_MESSAGES:
        half = _MAX_KEPT_MESSAGES // 2
        messages = messages[:half] + messages[-half:]
    keep = max(_MIN_KEEP_CHARS, max_bytes // 2)
    while True:
        if isinstance(messages, list):
            rec["messages"] = [
                {**m, "content": _cut_content(m.get("content"), keep)}
                if isinstance(m, Mapping)
                else m
                for m in messages
            ]
        for name in ("system", "response_text"):
            if isinstance(record.get(name), str):
                rec[name] = _cut(record[name], keep)
        if _json_size(rec) <= max_bytes or keep <= _MIN_KEEP_CHARS:
            break
        keep = max(_MIN_KEEP_CHARS, keep // 2)
    rec["distillguard_truncated"] = True
    return rec, True
