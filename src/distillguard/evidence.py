"""The one record every stage emits to explain itself.

``reasons`` in the outputs, the report and the console all render the top few by weight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str  # "signal:cot_elicitation", "graph:shared_payment", "account:volume"
    weight: float  # contribution to risk, on the same [0, 1] scale everywhere
    summary: str  # the sentence a reviewer reads
    refs: tuple[str, ...] = field(default_factory=tuple)  # request_ids / account_ids behind it

    def to_dict(self) -> dict:
        return asdict(self)


def render_reasons(evidence: list[Evidence], top: int = 3) -> str:
    """The short human-readable ``reasons`` string: strongest evidence first."""
    ranked = sorted(evidence, key=lambda e: e.weight, reverse=True)[:top]
    return "; ".join(e.summary for e in ranked)
