"""Canary facts: unique, keyed statements planted in degraded responses.

Each canary is a sentence naming a made-up reference code (``ref. DG-7K2Q-94XM``) derived from
HMAC(key, account, n): nothing in the world produces that string except our answer. A model
trained on harvested answers that reproduces the code has seen them. ``check`` scans a suspect
model's outputs for the codes of every issued canary and gives the probability of seeing that
many by chance: a code is 8 symbols of a 32-letter alphabet (2**40 values), so a random string
matches a given code with probability 2**-40 per position tried.

Issued canaries are appended to ``canaries.jsonl`` in the data folder (account, code, time),
so a reviewer can tie a hit back to the account that received it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, no 0/O or 1/I
CODE_RE = re.compile(r"DG-([2-9A-HJ-NP-Z]{4})-([2-9A-HJ-NP-Z]{4})")
TEMPLATES = (
    "(Internal reference for this answer: DG-{code}.)",
    "Reference note DG-{code} applies to this explanation.",
    "(See worked-example index DG-{code}.)",
)
CODE_BITS = 40


def _code(key: bytes, account_id: str, n: int) -> str:
    digest = hmac.new(key, f"canary|{account_id}|{n}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:5], "big")
    chars = [ALPHABET[(value >> (5 * i)) & 31] for i in range(8)]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


@dataclass
class CanaryIssuer:
    """Issues canaries for an account and records them in ``registry`` (JSON Lines)."""

    key: bytes
    registry: Path

    def issue(self, account_id: str) -> str:
        """A new canary sentence for the account (recorded before it is returned)."""
        n = sum(1 for _ in self._rows()) if self.registry.exists() else 0
        code = _code(self.key, account_id, n)
        self.registry.parent.mkdir(parents=True, exist_ok=True)
        with self.registry.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"code": code, "account_id": account_id, "n": n,
                                 "issued_at": int(time.time() * 1000)}) + "\n")
        return TEMPLATES[n % len(TEMPLATES)].format(code=code)

    def embed(self, text: str, account_id: str) -> str:
        """The answer with a canary sentence appended to its last paragraph."""
        return text.rstrip() + " " + self.issue(account_id)

    def _rows(self):
        with self.registry.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def chance_log10(hits: int, candidates: int, issued: int) -> float:
    """log10 of the upper bound on P(``hits`` or more issued codes among ``candidates``
    code-shaped strings that owe nothing to our answers): C(candidates, hits) * (issued/2**40)**hits.
    In logs, because a student that reproduces dozens of codes underflows a float."""
    if hits <= 0:
        return 0.0
    n = max(candidates, hits)
    log_comb = (math.lgamma(n + 1) - math.lgamma(hits + 1) - math.lgamma(n - hits + 1)) / math.log(10)
    return min(0.0, log_comb + hits * math.log10(max(issued, 1) / 2.0**CODE_BITS))


def chance_probability(hits: int, candidates: int, issued: int) -> float:
    """The bound of :func:`chance_log10` as a probability (0.0 below float range)."""
    return 10.0 ** chance_log10(hits, candidates, issued)


def check_canaries(outputs: list[str], registry: Path) -> dict:
    """Which issued canaries the outputs reproduce, and how likely that is by chance."""
    issued = {}
    if registry.exists():
        with registry.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    issued[row["code"]] = row
    found: dict[str, dict] = {}
    candidates = 0
    for i, text in enumerate(outputs):
        for m in CODE_RE.finditer(text):
            candidates += 1
            code = f"{m.group(1)}-{m.group(2)}"
            if code in issued and code not in found:
                found[code] = {**issued[code], "output": i}
    return {"issued": len(issued), "outputs": len(outputs), "code_like_strings": candidates,
            "reproduced": sorted(found.values(), key=lambda r: r["n"]),
            "p_chance": chance_probability(len(found), candidates, len(issued)),
            "log10_p_chance": round(chance_log10(len(found), candidates, len(issued)), 1)}
