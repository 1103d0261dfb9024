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

MAX_DEPTH = 32
# Integers beyond what a double holds exactly have no business in a request record.
MAX_ABS_INT = 2**53
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRejected(InvalidInputError):
    """A body that is not acceptable JSON; ``code`` names why (``invalid_json``, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _reject_constant(name: str) -> Any:
    raise JSONRejected("invalid_number", f"{name} is not a number JSON allows")


def loads_strict(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``body`` (UTF-8 JSON) or raise :class:`JSONRejected`."""
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
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)) and depth >= max_depth:
            raise JSONRejected("too_deep", f"JSON nested deeper than {max_depth} levels")
        if isinstance(v, str):
            _check_string(v)
        elif isinstance(v, dict):
            for k, item in v.items():
                _check_string(k)
                stack.append((item, depth + 1))
        elif isinstance(v, list):
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise JSONRejected("invalid_number", "numbers must be finite")
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_ABS_INT:
            raise JSONRejected("invalid_number", f"integers must be within ±2^53; got {v}")


def _check_string(s: str) -> None:
    if not s.isascii() and _SURROGATE.search(s):
        raise JSONRejected("invalid_utf8", "string holds a lone surrogate (not valid Unicode)")
