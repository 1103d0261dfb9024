"""Text pools for the simulator: real corpora when present, the built-in generator otherwise.

Every string is JSON-escaped once when loaded, so request messages are assembled by
vectorised string concatenation (``pyarrow.compute``) instead of per-record ``json.dumps``:
the concatenation of escaped pieces is the escaped concatenation.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..corpora import find_corpora
from . import fallback
from .geo import FALLBACK_DATACENTER, FALLBACK_VPN, parse_cidrs

MAX_TURN_CHARS = 2000
MAX_TURNS = 6
MAX_REPLY_CHARS = 700
_CODE_RE = re.compile(
    r"```|\bdef |\bfunction\b|\bclass |python|javascript|typescript|\bsql\b|\bcode\b|error|bug|compile|regex|\bapi\b|java\b|c\+\+|golang|rust\b",
    re.I,
)
_REPLY_BODIES = (
    "Here are the main points to consider:\n\n1. Start with the core idea and make sure the basics are clear.\n2. Look at the most common cases first.\n3. Then handle the exceptions.\n\nLet me know if you want me to go deeper on any of these.",
    "Good question. In short, it depends on your goals, but a sensible approach is to begin small, measure what happens, and adjust. I can give a more specific plan if you share more details.",
    "Certainly. Below is a draft you can adapt:\n\n---\nThank you for your message. I have reviewed the details and will follow up shortly with the next steps.\n---\n\nWould you like a more formal or a more casual version?",
    "Let's break it down. First, the background: this comes up often and there are a few standard ways to approach it. Second, the trade-offs: each option has costs. Finally, my recommendation: pick the simplest option that meets your needs.",
    "Sure! Here is an example:\n\n```\nexample = [1, 2, 3]\nprint(sum(example))\n```\n\nThis prints 6. The same pattern works for larger inputs.",
)


def esc(s: str) -> str:
    """JSON string body (no quotes) of ``s``."""
    return json.dumps(s, ensure_ascii=False)[1:-1]


def _clean(s: object, limit: int = MAX_TURN_CHARS) -> str:
    text = str(s or "").replace("\x00", "")
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text.strip()


def _records(root: Path, rel: str, stride: int = 1) -> list[dict]:
    path = root / rel
    if not path.exists():
        return []
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % stride == 0 and line.strip():
                out.append(json.loads(line))
    return out


def _load_corpora(root: Path) -> dict:
    chats: list[list[str]] = []
    first_replies: dict[int, str] = {}
    for r in _records(root, "benign/sharegpt.jsonl.gz"):
        turns = [_clean(t) for t in (r.get("turns") or [r.get("text")]) if t and str(t).strip()]
        if turns:
            chats.append(turns[:MAX_TURNS])
    for r in _records(root, "benign/oasst2_users.jsonl.gz"):
        turns = [_clean(t.get("text")) for t in (r.get("turns") or []) if t.get("text")]
        # oasst2 "turns" interleave authors; only the conversation owner's turns are user turns.
        own = [
            _clean(t.get("text"))
            for t in (r.get("turns") or [])
            if t.get("user_id") == r.get("user_id") and t.get("text")
        ]
        turns = own or turns or [_clean(r.get("text"))]
        chats.append(turns[:MAX_TURNS])
    for r in _records(root, "benign/hh_rlhf_test.jsonl.gz"):
        turns = [_clean(t) for t in (r.get("turns") or [r.get("text")]) if t]
        if turns:
            chats.append(turns[:MAX_TURNS])
    for r in _records(root, "benign/alpaca_eval_prompts.jsonl.gz"):
        first_replies[len(chats)] = _clean(r.get("response"), MAX_REPLY_CHARS)
        chats.append([_clean(r.get("text"))])
    chats = [c for c in chats if c and c[0]]
    code_chats = [c for c in chats if _CODE_RE.search(c[0])]

    def task_pool(rel: str, answer_key: str, stride: int = 1) -> list[tuple[str, str]]:
        return [
            (
                _clean(r["text"], 3000),
                _clean(
                    r.get(answer_key) or r.get("response") or r.get("answer") or "", MAX_REPLY_CHARS
                ),
            )
            for r in _records(root, rel, stride)
            if r.get("text")
        ]

    gpteacher = task_pool("tasks/gpteacher_codegen.jsonl.gz", "response")
    humaneval = task_pool("tasks/humaneval.jsonl.gz", "answer")
    tasks = {
        "math": task_pool("tasks/gsm8k_train.jsonl.gz", "answer"),
        "code": humaneval + gpteacher,
        "nlp": task_pool("tasks/t0_templated.jsonl.gz", "answer", stride=5),
        "general": task_pool("tasks/self_instruct_seeds.jsonl.gz", "answer"),
    }
    # gpteacher instructions are also what benign developers ask, raw (no wrapper).
    code_chats += [[t] for t, _ in gpteacher[::2]]
    systems = [
        _clean(r["text"], 1500)
        for r in _records(root, "benign/awesome_chatgpt_prompts.jsonl.gz")
        if r.get("text")
    ]
    rubric = [
        r["text"]
        for r in _records(root, "templates/rubric_grading.jsonl.gz")
        if "{instruction}" in r.get("text", "")
    ]
    hh = _records(root, "benign/hh_rlhf_test.jsonl.gz")
    sensitive = [_clean(r["text"]) for r in hh if r.get("text")]
    docs = [
        _clean(r.get("response"), 3000)
        for r in _records(root, "benign/alpaca_eval_prompts.jsonl.gz")
        if r.get("response")
    ]
    docs += [t for c in chats for t in c[:1] if len(t) > 600][:3000]
    uas = [
        r
        for r in _records(root, "infra/user_agents.jsonl.gz")
        if r.get("device") in ("desktop", "mobile", "tablet")
    ]
    pools = {
        "chats": chats,
        "code_chats": code_chats,
        "first_replies": first_replies,
        "systems": systems,
        "tasks": tasks,
        "eval": {"math": tasks["math"], "code": humaneval},
        "rubric": rubric,
        "sensitive": sensitive,
        "docs": docs,
        "browser_uas": [r["text"] for r in uas],
        "browser_weights": [float(r.get("percent") or 0.001) + 1e-4 for r in uas],
        "datacenter": (root / "infra/datacenter_ipv4.txt").read_text().splitlines()
        if (root / "infra/datacenter_ipv4.txt").exists()
        else None,
        "vpn": (root / "infra/vpn_ipv4.txt").read_text().splitlines()
        if (root / "infra/vpn_ipv4.txt").exists()
        else None,
        "source": str(root),
    }
    # Fill any pool the corpora lack from the built-in generator.
    fb = None
    for key in ("chats", "code_chats", "systems", "rubric", "sensitive", "docs", "browser_uas"):
        if not pools[key]:
            fb = fb or fallback.build_pools()
            pools[key] = fb[key]
            if key == "browser_uas":
                pools["browser_weights"] = fb["browser_weights"]
    for cap, items in list(tasks.items()):
        if not items:
            fb = fb or fallback.build_pools()
            tasks[cap] = fb["tasks"][cap]
    for cap, items in list(pools["eval"].items()):
        if not items:
            fb = fb or fallback.build_pools()
            pools["eval"][cap] = fb["eval"][cap]
    return pools


class _ConvPool:
    """Conversations sorted by length: pick one with at least ``L`` user turns in O(1)."""

    def __init__(self, convs: list[list[str]], first_replies: dict[int, str], salt: int):
        order = sorted(range(len(convs)), key=lambda i: (len(convs[i]), i))
        self.turns = [[esc(t) for t in convs[i]] for i in order]
        self.first_reply = {
            new: esc(first_replies[old]) for new, old in enumerate(order) if old in first_replies
        }
        self.n_turns = np.array([len(t) for t in self.turns], dtype=np.int64)
        self.first_with = np.searchsorted(self.n_turns, np.arange(MAX_TURNS + 2))
        self.salt = salt
        self._cache: dict[int, str] = {}

    def pick(self, rng: np.random.Generator, length: np.ndarray) -> np.ndarray:
        """A conversation index for each session of ``length`` turns (capped at the pool's max)."""
        length = np.minimum(length, int(self.n_turns.max()))
        lo = self.first_with[length]
        return (lo + (rng.random(len(length)) * (len(self.turns) - lo))).astype(np.int64)

    def reply(self, c: int, i: int) -> str:
        if i == 0 and c in self.first_reply:
            return self.first_reply[c]
        snip = esc(json.loads('"' + self.turns[c][i] + '"')[:80])
        return (
            'Sure, here is my answer to \\"'
            + snip
            + '…\\".\\n\\n'
            + esc(_REPLY_BODIES[(c * 7 + i * 3 + self.salt) % len(_REPLY_BODIES)])
        )

    def messages(self, c: int, k: int) -> str:
        """JSON of user turns ``0..k`` of conversation ``c`` with the assistant turns between."""
        key = c * 16 + k
        hit = self._cache.get(key)
        if hit is None:
            parts = []
            for i in range(k):
                parts.append('{"role":"user","content":"' + self.turns[c][i] + '"}')
                parts.append('{"role":"assistant","content":"' + self.reply(c, i) + '"}')
            parts.append('{"role":"user","content":"' + self.turns[c][k] + '"}')
            hit = ",".join(parts)
            if len(self._cache) < 60_000:  # bounded: a large run must not grow without limit
                self._cache[key] = hit
        return hit


class TextBank:
    """All text the simulator needs, JSON-escaped, with vectorised assembly helpers."""

    def __init__(self, pools: dict):
        self.source = pools["source"]
        self.chat = _ConvPool(pools["chats"], pools["first_replies"], 0)
        self.code_chat = _ConvPool(pools["code_chats"], {}, 1)
        self.systems = pa.array([esc(s) for s in pools["systems"]], pa.string())
        self.tasks: dict[str, pa.Array] = {}
        self.answers: dict[str, pa.Array] = {}
        for cap, items in pools["tasks"].items():
            self.tasks[cap] = pa.array([esc(t) for t, _ in items], pa.string())
            self.answers[cap] = pa.array(
                [esc(a or "The answer follows from the steps above.") for _, a in items],
                pa.string(),
            )
        # Public benchmarks the eval runners run (GSM8K, HumanEval), in their original order.
        self.eval_tasks = {
            cap: pa.array([esc(t) for t, _ in items], pa.string())
            for cap, items in pools["eval"].items()
        }
        self.rubric = [_split_rubric(t) for t in pools["rubric"]]
        self.sensitive = pa.array([esc(s) for s in pools["sensitive"]], pa.string())
        self.docs = pa.array([esc(s) for s in pools["docs"]], pa.string())
        self.browser_uas = list(pools["browser_uas"])
        w = np.asarray(pools["browser_weights"], dtype=np.float64)
        self.browser_p = w / w.sum()
        self.datacenter = parse_cidrs(pools["datacenter"] or list(FALLBACK_DATACENTER))
        self.vpn = parse_cidrs(pools["vpn"] or list(FALLBACK_VPN))

    # ---- assembly helpers -------------------------------------------------------------
    def conv_messages(self, pool: _ConvPool, conv: np.ndarray, k: np.ndarray) -> pa.Array:
        """Message-list JSON (without brackets) for each (conversation, turn) row."""
        k = np.minimum(k, pool.n_turns[conv] - 1)
        key = conv * 16 + k
        uniq, inv = np.unique(key, return_inverse=True)
        # A loop over distinct (conversation, turn) pairs, not over rows.
        strings = pa.array([pool.messages(int(u) // 16, int(u) % 16) for u in uniq], pa.string())
        return strings.take(pa.array(inv.astype(np.int64)))

    def rubric_prompts(self, rng: np.random.Generator, cap: str, n: int) -> pa.Array:
        """``n`` filled rubric-grading prompts: a real judge template over a task and two answers."""
        tasks, answers = self.tasks[cap], self.answers[cap]
        t = rng.integers(len(tasks), size=n)
        t2 = (t + 1 + rng.integers(len(tasks) - 1 if len(tasks) > 1 else 1, size=n)) % len(tasks)
        tmpl = rng.integers(len(self.rubric), size=n)
        fills = {
            "instruction": tasks.take(pa.array(t)),
            "output_1": answers.take(pa.array(t)),
            "output_2": answers.take(pa.array(t2)),
        }
        out = pa.array([""] * n, pa.string())
        pieces = []
        idx_all = []
        for j in np.unique(tmpl):  # loop over distinct templates
            rows = np.nonzero(tmpl == j)[0]
            segs, names = self.rubric[int(j)]
            parts: list = [segs[0]]
            for name, seg in zip(names, segs[1:], strict=True):
                parts.append(fills[name].take(pa.array(rows)))
                parts.append(seg)
            pieces.append(pc.binary_join_element_wise(*parts, ""))
            idx_all.append(rows)
        if pieces:
            joined = pa.concat_arrays(
                [p if isinstance(p, pa.Array) else p.combine_chunks() for p in pieces]
            )
            order = np.argsort(np.concatenate(idx_all), kind="stable")
            out = joined.take(pa.array(order))
        return out


def _split_rubric(template: str) -> tuple[list[str], list[str]]:
    """Escaped literal segments and the placeholder names between them."""
    parts = re.split(r"\{(instruction|output_1|output_2)\}", template)
    segs = [esc(p) for p in parts[0::2]]
    names = parts[1::2]
    return segs, names


@lru_cache(maxsize=4)
def _bank_for(root: str | None) -> TextBank:
    pools = _load_corpora(Path(root)) if root else fallback.build_pools()
    return TextBank(pools)


def load_bank(corpora: Path | None, use_corpora: bool = True) -> TextBank:
    """The text bank from ``corpora`` (or the auto-located corpora), or the built-in generator
    when ``use_corpora`` is false or no corpora exist. Cached per source."""
    if not use_corpora:
        return _bank_for(None)
    root = find_corpora(corpora)
    return _bank_for(str(root) if root is not None else None)
