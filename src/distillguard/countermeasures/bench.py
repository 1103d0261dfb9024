"""Watermark power, measured honestly on real text (``distillguard watermark-bench``).

- *watermarked vs clean*: real model answers (alpaca_eval responses in ``../shared/corpora``)
  with and without the watermark, each answer tested alone;
- *after paraphrase*: two attacks without a paraphrasing model here: ``rechoose`` re-picks 30%
  of the sites at random (light rewording), ``normalise`` expands every contraction and
  Americanises every spelling (the cheap normalisation a distiller can run over a corpus);
- *student*: a word-bigram model trained on 2,000 watermarked (or clean) answers, its samples
  tested as one body of text: does the mark survive training?
- *false positives*: clean human and model text (ShareGPT, HH-RLHF, OASST2 prompts, clean
  answers) at alpha = 0.01;
- *canaries*: the same bigram student trained on answers carrying canaries: which codes it
  reproduces, and the chance probability ``canary check`` reports.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from pathlib import Path

from .canary import CanaryIssuer, check_canaries
from .watermark import _FORMS, PAIRS, SITE, Watermark, _case_like

ALPHA = 0.01


def read_texts(path: Path, field: str, limit: int, min_words: int = 40) -> list[str]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts = row.get("turns") if field == "turns" else [row.get(field)]
            for t in texts or []:
                if isinstance(t, str) and len(t.split()) >= min_words:
                    out.append(t)
            if len(out) >= limit:
                break
    return out[:limit]


def rechoose(text: str, share: float, rng: random.Random) -> str:
    """Re-pick ``share`` of the sites at random: light rewording."""
    def swap(m):
        if rng.random() >= share:
            return m.group(1)
        pair, _ = _FORMS[m.group(1).lower()]
        return _case_like(m.group(1), PAIRS[pair][rng.randrange(2)])
    return SITE.sub(swap, text)


def normalise(text: str) -> str:
    """Every site in its first form (expanded, American): the watermark's choices are gone."""
    return SITE.sub(lambda m: _case_like(m.group(1), PAIRS[_FORMS[m.group(1).lower()][0]][0]), text)


def bigram_student(texts: list[str], n_words: int, rng: random.Random) -> str:
    """Samples of a word-bigram model trained on ``texts`` (the 'student' of the harvest)."""
    nxt: dict[str, list[str]] = defaultdict(list)
    for t in texts:
        words = t.split()
        for a, b in zip(["<s>", *words], words, strict=False):
            nxt[a].append(b)
    out, w = [], "<s>"
    for _ in range(n_words):
        w = rng.choice(nxt.get(w) or nxt["<s>"])
        out.append(w)
    return " ".join(out)


def _rates(wm: Watermark, texts: list[str]) -> dict:
    dets = [wm.detect(t) for t in texts]
    with_sites = [d for d in dets if d.sites]
    return {"texts": len(texts), "with_sites": len(with_sites),
            "mean_sites": sum(d.sites for d in dets) / max(len(dets), 1),
            "detected_at_0.01": sum(d.p_value <= ALPHA for d in dets) / max(len(dets), 1),
            "median_p": sorted(d.p_value for d in dets)[len(dets) // 2] if dets else None}


def canary_student(answers: list[str], key: bytes, workdir: Path, rng: random.Random) -> dict:
    """Plant one canary in each of 600 answers (60 accounts), train the bigram student on them,
    and check its 20,000 sampled words for the codes."""
    registry = workdir / "canaries.jsonl"
    registry.unlink(missing_ok=True)
    issuer = CanaryIssuer(key, registry)
    planted = [issuer.embed(t, f"acct-{i % 60}") for i, t in enumerate(answers[:600])]
    sample = bigram_student(planted, 20_000, rng)
    res = check_canaries([sample], registry)
    clean = check_canaries([bigram_student(answers[:600], 20_000, rng)], registry)
    return {"issued": res["issued"], "student_reproduced": len(res["reproduced"]),
            "log10_p_chance": res["log10_p_chance"],
            "clean_student_reproduced": len(clean["reproduced"])}


def measure(corpora: Path, key: bytes, seed: int = 0, workdir: Path | None = None) -> dict:
    """Every figure of the section, on the corpora folder."""
    rng = random.Random(seed)
    wm = Watermark(key)
    benign = corpora / "benign"
    answers = read_texts(benign / "alpaca_eval_prompts.jsonl.gz", "response", 800)
    marked = [wm.apply(t) for t in answers]
    human = (read_texts(benign / "sharegpt.jsonl.gz", "text", 1000)
             + read_texts(benign / "hh_rlhf_test.jsonl.gz", "turns", 1000, min_words=20)
             + read_texts(benign / "oasst2_users.jsonl.gz", "text", 1000, min_words=20))
    train, held = marked[:600], marked[600:]
    student_wm = bigram_student(train, 20_000, rng)
    student_clean = bigram_student(answers[:600], 20_000, rng)
    return {
        "key_bytes": len(key),
        "watermarked_answers": _rates(wm, marked),
        "clean_answers": _rates(wm, answers),
        "after_rechoose_30pct": _rates(wm, [rechoose(t, 0.3, rng) for t in marked]),
        "after_normalise": _rates(wm, [normalise(t) for t in marked]),
        "benign_human_text_fpr": _rates(wm, human),
        "student_trained_on_watermarked": wm.detect(student_wm).to_dict(),
        "student_trained_on_clean": wm.detect(student_clean).to_dict(),
        "held_out_watermarked_body": wm.detect("\n".join(held)).to_dict(),
        "canaries": canary_student(answers, key, workdir or Path("."), rng),
    }
