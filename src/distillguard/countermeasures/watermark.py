"""A keyed, meaning-preserving lexical watermark with a p-value detector.

English has many pairs of interchangeable forms: contractions (``do not`` / ``don't``),
spelling variants (``color`` / ``colour``), and near-synonymous connectives (``also`` /
``as well``… only the safe ones are listed). At each *site* (an occurrence of a pair member) the
watermark writes the form that a keyed hash of (key, previous word, pair) selects. Without the
key each site agrees with the keyed choice with probability 1/2, so the number of agreeing
sites among ``n`` is Binomial(n, 1/2) on text that was never watermarked, and the detector's
p-value is the binomial tail P(X >= agreements). Nothing is added or removed: the answer says
the same thing in slightly different words.

Honest limits: power grows with the number of sites (a few per hundred words of ordinary
English); a paraphrase that rewrites the sentences removes sites and the choices made at them;
a writer's own consistent habits (always contracting) are not keyed to our hash and stay at
1/2 on average, but a short text can reach a small p-value by chance like any test.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass

# (form A, form B): both read the same in context. Lower case; matched on word boundaries and
# rewritten preserving the capital of the first letter.
PAIRS: tuple[tuple[str, str], ...] = (
    ("do not", "don't"), ("does not", "doesn't"), ("did not", "didn't"),
    ("is not", "isn't"), ("are not", "aren't"), ("was not", "wasn't"),
    ("were not", "weren't"), ("cannot", "can't"), ("will not", "won't"),
    ("would not", "wouldn't"), ("should not", "shouldn't"), ("could not", "couldn't"),
    ("have not", "haven't"), ("has not", "hasn't"), ("it is", "it's"), ("that is", "that's"),
    ("there is", "there's"), ("you are", "you're"), ("we are", "we're"), ("they are", "they're"),
    ("i am", "i'm"), ("let us", "let's"), ("you will", "you'll"), ("we will", "we'll"),
    ("color", "colour"), ("behavior", "behaviour"), ("favorite", "favourite"),
    ("organize", "organise"), ("realize", "realise"), ("analyze", "analyse"),
    ("center", "centre"), ("toward", "towards"), ("amongst", "among"), ("whilst", "while"),
    ("e.g.", "for example"), ("i.e.", "that is,"), ("okay", "OK"),
)
_FORMS = {f.lower(): (i, j) for i, pair in enumerate(PAIRS) for j, f in enumerate(pair)}
_ALT = "|".join(sorted((re.escape(f) for f in _FORMS), key=len, reverse=True))
SITE = re.compile(rf"(?<![\w'])({_ALT})(?![\w'])", re.IGNORECASE)
PREV_WORD = re.compile(r"(\w+)\W*$")
_PREV_WINDOW = 256  # characters looked back first; the whole prefix only when that is not enough


def _prev_word(text: str, end: int) -> str:
    """The last word of ``text[:end]`` (``PREV_WORD`` on the prefix), or "" when it has none.

    Searched in the last ``_PREV_WINDOW`` characters first: a search over the whole prefix
    scans it from the start, which made ``detect`` quadratic in the length of a body of text.
    The window's answer is used only when it cannot differ from the prefix's: a word that
    starts at the window's left edge may continue before it, and no word in the window does
    not mean none before it."""
    lo = max(0, end - _PREV_WINDOW)
    m = PREV_WORD.search(text, lo, end)
    if lo and (m is None or m.start() == lo):
        m = PREV_WORD.search(text, 0, end)
    return m.group(1) if m else ""


@dataclass(frozen=True)
class Detection:
    sites: int
    agree: int
    p_value: float

    def to_dict(self) -> dict:
        return {"sites": self.sites, "agree": self.agree, "p_value": self.p_value}


def binomial_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly (n is small: sites in a text)."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2.0**n


def _case_like(template: str, form: str) -> str:
    return form[:1].upper() + form[1:] if template[:1].isupper() else form


class Watermark:
    """``apply`` rewrites the sites of a text; ``detect`` tests a body of text for the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the watermark key must be at least 16 bytes")
        self.key = key

    def _choice(self, prev: str, pair: int) -> int:
        msg = f"{prev.lower()}|{pair}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).digest()[0] & 1

    def _sites(self, text: str):
        for m in SITE.finditer(text):
            pair, form = _FORMS[m.group(1).lower()]
            yield m, pair, form, _prev_word(text, m.start())

    def apply(self, text: str) -> str:
        """The same text with each site in its keyed form.

        Left to right on the text being rewritten, so each choice sees the previous word as the
        detector will (a rewritten site is the context of the next one)."""
        pos = 0
        while True:
            m = SITE.search(text, pos)
            if m is None:
                return text
            pair, form = _FORMS[m.group(1).lower()]
            want = self._choice(_prev_word(text, m.start()), pair)
            new = m.group(1) if want == form else _case_like(m.group(1), PAIRS[pair][want])
            text = text[: m.start()] + new + text[m.end():]
            pos = m.start() + len(new)

    def detect(self, text: str) -> Detection:
        """Sites, agreements with the key, and the one-sided binomial p-value."""
        n = agree = 0
        for _m, pair, form, prev in self._sites(text):
            n += 1
            agree += form == self._choice(prev, pair)
        return Detection(n, agree, binomial_tail(n, agree))
