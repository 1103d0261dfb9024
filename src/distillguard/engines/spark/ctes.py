"""Common table expressions that a statement reads more than once, computed once on Spark.

DuckDB may materialise a CTE that is referenced twice; Spark inlines every CTE, so a shared
definition such as ``WITH e AS (...), d AS (SELECT ... FROM e GROUP BY ...) SELECT ... FROM e
JOIN d`` computes ``e`` (there, eight aggregations over every request) twice, and column
pruning makes the two copies differ, so Spark cannot reuse one's shuffle for the other. On a
10% slice of `large`, the coordination graph's query was the slowest of the whole analysis.

:func:`split_ctes` finds the first ``WITH`` list of a statement (also inside a subquery) and
:func:`plan_ctes` picks the CTEs referenced at least twice after their definition (counted as
``FROM name`` / ``JOIN name``). The engine checkpoints each of those as a temp view of the
same name and runs the statement without its definition; inside the statement the name
meant the CTE anyway, so the result is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WITH = re.compile(r"\bWITH\s+([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(", re.IGNORECASE)
_NEXT = re.compile(r"\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class Cte:
    name: str
    body: str  # the query inside the parentheses


def _close(sql: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (quotes skipped), or -1."""
    depth, i, n = 0, open_at, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = sql.find(ch, i + 1)
            while end != -1 and ch != "`" and end + 1 < n and sql[end + 1] == ch:
                end = sql.find(ch, end + 2)  # a doubled quote inside a literal
            if end == -1:
                return -1
            i = end
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _outside_quotes(sql: str, pos: int) -> bool:
    """Whether ``pos`` is outside string literals and quoted names (an even quote count)."""
    head = sql[:pos]
    return all(head.count(q) % 2 == 0 for q in "'\"`")


def split_ctes(sql: str) -> tuple[str, list[Cte], str] | None:
    """``(prefix, ctes, rest)`` for the first ``WITH`` list of ``sql``, or None: the statement
    is ``prefix + "WITH " + ctes + rest``."""
    if "--" in sql or "/*" in sql:
        return None  # a comment may hold a quote or a parenthesis: left as it is
    m = _WITH.search(sql)
    while m is not None and not _outside_quotes(sql, m.start()):
        m = _WITH.search(sql, m.end())
    if m is None:
        return None
    ctes: list[Cte] = []
    name, open_at = m.group(1), m.end() - 1
    while True:
        end = _close(sql, open_at)
        if end == -1:
            return None
        ctes.append(Cte(name, sql[open_at + 1 : end]))
        nxt = _NEXT.match(sql, end + 1)
        if nxt is None:
            return sql[: m.start()], ctes, sql[end + 1 :]
        name, open_at = nxt.group(1), nxt.end() - 1


def references(name: str, text: str) -> int:
    """How often ``text`` reads relation ``name`` (``FROM name`` or ``JOIN name``; not
    ``IS NOT DISTINCT FROM name.col``, a column)."""
    pattern = rf"\b(?:FROM|JOIN)\s+{re.escape(name)}\b(?!\s*\.)"
    return len(re.findall(pattern, text, re.IGNORECASE))


def plan_ctes(sql: str, exists=lambda name: False) -> tuple[list[tuple[str, str]], str]:
    """``([(name, query), ...], statement)``: the CTEs to compute once, in order (each query
    carries the inlined CTEs it may read), and the statement left to run after them. A CTE
    is computed once when read at least twice after its definition, its body is a plain query
    and no table of its name exists (``exists``: the view must not hide one)."""
    parts = split_ctes(sql)
    if parts is None:
        return [], sql
    prefix, ctes, rest = parts
    once: list[tuple[str, str]] = []
    inline: list[Cte] = []
    for i, cte in enumerate(ctes):
        later = " ".join(c.body for c in ctes[i + 1 :]) + " " + rest
        plain = not re.match(r"\s*WITH\b", cte.body, re.IGNORECASE)
        if references(cte.name, later) >= 2 and plain and not exists(cte.name):
            once.append((cte.name, _with(inline) + cte.body))
        else:
            inline.append(cte)
    if not once:
        return [], sql
    return once, prefix + _with(inline) + rest


def _with(ctes: list[Cte]) -> str:
    if not ctes:
        return ""
    return "WITH " + ", ".join(f"{c.name} AS ({c.body})" for c in ctes) + " "
