"""Strict JSON for hostile request bodies: bounded nesting, strict UTF-8, finite bounded numbers.

``json.loads`` alone accepts things the scoring service must refuse *before* any state
changes: nesting deep enough to exhaust the recursion limit (an uncaught ``RecursionError``
was a 500), lone surrogates such as ``"\\ud800"`` (valid JSON escapes, but no UTF-8 encoding exists,
so the first ``.encode()`` downstream fails), ``NaN``/``Infinity``, ``1e999`` (parsed as
``inf``) and integers of any size. :func:`loads_strict` refuses all of them with
:class:`JSONRejected`, which carries a stable ``code`` for the 400 answer.

>>> loads_strict(b'{"a": [1, 2.5, "x"]}')
{'a': [1, 2.5, 'x']}
>>> loads_strict(b'[' * 100 + b']' * 100)
Traceback (most recent call last):
...
distillguard.online.strict_json.JSONRejected: JSON nested deeper than 32 levels
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import InvalidInputError

try:  # optional (the gateway extra): the stdlib parser alone gives the same answers, slower
    import orjson
except ImportError:  # pragma: no cover - depends on the install
    orjson = None

MAX_DEPTH = 32
# Integers beyond what a double holds exactly have no business in a request record.
MAX_ABS_INT = 2**53
_SURROGATE = re.compile("[\ud800-\udfff]")
# orjson turns an integer beyond 64 bits into a float (-2^63 <= int < 2^64 stay ints); a float
# this large may have been such an integer, which the strict path refuses: parse it again there.
_ORJSON_INT_AS_FLOAT = float(2**63)


class JSONRejected(InvalidInputError):
    """A body that is not acceptable JSON; ``code`` names why (``invalid_json``, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _reject_constant(name: str) -> Any:
    raise JSONRejected("invalid_number", f"{name} is not a number JSON allows")


def loads_strict(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``body`` (UTF-8 JSON) or raise :class:`JSONRejected`.

    orjson parses first (several times faster); a body it refuses, that the checks refuse, or
    that holds a float which may have been an integer beyond 64 bits is parsed again by the
    stdlib path, so accepted values and refusals are exactly those of the stdlib parser.
    """
    if orjson is None:
        return _loads_stdlib(body, max_depth)
    try:
        value = orjson.loads(body)
        if not _scan(value, max_depth):
            return value
    except (orjson.JSONDecodeError, JSONRejected):
        pass  # refused or doubtful: the stdlib path gives the answer (and the refusal's reason)
    return _loads_stdlib(body, max_depth)


def _loads_stdlib(body: bytes, max_depth: int) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONRejected("invalid_utf8", f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except JSONRejected:
        raise
    except json.JSONDecodeError as exc:
        raise JSONRejected("invalid_json", f"body is not valid JSON: {exc.msg}") from None
    except RecursionError:
        # The C parser recurses once per level and stops cleanly at the recursion limit.
        raise JSONRejected("too_deep", f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer with 5,000 digits
        raise JSONRejected("invalid_json", f"body is not valid JSON: {exc}") from None
    check_values(value, max_depth)
    return value


def check_values(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse deep nesting, lone surrogates in strings and keys, non-finite or huge numbers."""
    _scan(value, max_depth)


def _scan(value: Any, max_depth: int, depth: int = 0) -> bool:
    """:func:`check_values`' walk; True when a float of at least 2^63 was seen. Children are
    visited last first, the order of the stack walk this replaced, so a body with several
    faults is refused for the same one. Recursion is bounded: a container at ``max_depth`` is
    refused before its children are visited.

    Parsed JSON holds only exact dict/list/str/int/float/bool/None, so ``type() is`` suffices
    (a bool is never taken for an int).
    """
    t = type(value)
    if t is dict or t is list:
        if depth >= max_depth:
            raise JSONRejected("too_deep", f"JSON nested deeper than {max_depth} levels")
        if t is dict:
            for k in value:
                _check_string(k)
            value = value.values()
        big = False
        for item in reversed(value):
            ti = type(item)
            if ti is str:
                _check_string(item)
            elif ti is dict or ti is list or ti is float or ti is int:
                big = _scan(item, max_depth, depth + 1) or big
        return big
    if t is str:
        _check_string(value)
    elif t is float:
        if not math.isfinite(value):
            raise JSONRejected("invalid_number", "numbers must be finite")
        return abs(value) >= _ORJSON_INT_AS_FLOAT
    elif t is int and abs(value) > MAX_ABS_INT:
        raise JSONRejected("invalid_number", f"integers must be within ±2^53; got {value}")
    return False


def _check_string(s: str) -> None:
    if not s.isascii() and _SURROGATE.search(s):
        raise JSONRejected("invalid_utf8", "string holds a lone surrogate (not valid Unicode)")


# Floats orjson and ``json.dumps`` write alike: Python's repr switches to exponent notation
# below 1e-4 and from 1e16 (``1e-05`` where orjson writes ``1e-5``).
_PLAIN_FLOAT = (1e-4, 1e16)


def dumps_response(content: Any) -> bytes:
    """``content`` as the bytes Starlette's ``JSONResponse`` sends (compact, UTF-8, no NaN).

    orjson writes it when that gives the same bytes (floats in plain notation, str keys);
    otherwise, and without orjson, the stdlib writes it, raising as ``JSONResponse`` would.
    """
    if orjson is not None and _orjson_safe(content):
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _orjson_safe(v: Any) -> bool:
    t = type(v)
    if t is str or v is None or t is bool:
        return True
    if t is float:
        return v == 0.0 or _PLAIN_FLOAT[0] <= abs(v) < _PLAIN_FLOAT[1]
    if t is int:
        return -(2**63) <= v < 2**64
    if t is dict:
        for k, x in v.items():
            if type(k) is not str or (type(x) is not str and not _orjson_safe(x)):
                return False
        return True
    if t is list:
        for x in v:
            if type(x) is not str and not _orjson_safe(x):
                return False
        return True
    return False
