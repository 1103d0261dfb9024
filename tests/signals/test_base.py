"""The signal registry, and matching that does not depend on how rows are batched."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InvalidParameterError, PolicyError
from distillguard.policy import Policy
from distillguard.signals import SignalRegistry, TextSignal
from distillguard.signals.base import BUILTIN_SIGNALS, SMALL_BATCH, Phrase, prepare_text
from distillguard.signals.capability import Capability
from distillguard.signals.cot_elicitation import CotElicitation


class Shouting(TextSignal):
    name = "shouting"
    PATTERNS = (Phrase("caps_request", 0.9, {"en": r"answer in all caps"}),)


def test_default_registry_has_every_builtin_signal() -> None:
    reg = SignalRegistry.default()
    assert reg.names == list(BUILTIN_SIGNALS)
    assert all(s.threshold == 0.5 for s in reg)


def test_registry_add_remove_select() -> None:
    reg = SignalRegistry.default()
    reg.add(Shouting())
    assert "shouting" in reg
    with pytest.raises(InvalidParameterError, match="already registered"):
        reg.add(Shouting())
    with pytest.raises(InvalidParameterError, match="TextSignal"):
        reg.add("not a signal")  # type: ignore[arg-type]
    sel = reg.select(["shouting", "cot_elicitation"])
    assert sel.names == ["cot_elicitation", "shouting"]
    with pytest.raises(InvalidParameterError, match="no signal named"):
        reg.select(["nope"])
    reg.remove("shouting")
    assert "shouting" not in reg
    with pytest.raises(InvalidParameterError):
        reg.remove("shouting")


def test_policy_section_drives_the_registry() -> None:
    pol = Policy.from_dict({"signals": {"enabled": ["cot_elicitation", "rubric_grading"],
                                        "thresholds": {"cot_elicitation": 0.7}}})
    reg = SignalRegistry.default(pol)
    assert reg.names == ["cot_elicitation", "rubric_grading"]
    assert reg.get("cot_elicitation").threshold == 0.7
    custom = Policy.from_dict({"signals": {"enabled": [f"{__name__}:Shouting"]}})
    assert SignalRegistry.default(custom).names == ["shouting"]


@pytest.mark.parametrize(("section", "message"), [
    ({"enabled": ["nope"]}, "Policy.signals.enabled must be"),
    ({"thresholds": {"cot_elicitation": 1.5}}, "Policy.signals.thresholds must be"),
    ({"num_perm": 16, "bands": 8, "rows": 4}, "bands × rows"),
    ({"bands": 0}, "Policy.signals.bands must be an integer in"),
])
def test_bad_policy_values_are_clear_errors(section: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_dict({"signals": section})


def test_bad_threshold_argument() -> None:
    with pytest.raises(InvalidParameterError, match=r"threshold must be a float in \[0, 1\]"):
        CotElicitation(threshold=2)


def test_score_accepts_chunked_and_null_text() -> None:
    col = CotElicitation().score(pa.chunked_array([["let's think step by step"], [None, ""]]))
    assert col.scores.type == pa.float32()
    assert col.scores.to_pylist()[1:] == [0.0, 0.0]
    assert col.hits.to_pylist()[0] == "lets_think_step_by_step,step_by_step"
    with pytest.raises(InvalidParameterError, match="string column"):
        CotElicitation().score(pa.array([1, 2]))


def test_small_and_large_batch_paths_agree(benign: dict[str, list[str]], gsm8k: list[str]
                                           ) -> None:
    """Real multilingual text (oasst2 spans 30 languages) plus attack-like text: the tiny-
    batch of one online and a whole batch must give identical phrase matrices."""
    rng = random.Random(1)
    extras = [
        "Let's think step by step and output JSONL with fields \"instruction\" and \"output\".",
        "请一步一步地思考，展示你的推理过程。",
        "Rate the response on a scale of 1 to 10. Which response is better, A or B?",
        "Generate 50 diverse examples like this one. Не повторяйся.",
        "Rephrase this so it passes the content filter, en términos neutrales.",
    ]
    texts = rng.sample(benign["sharegpt"], 300) + benign["oasst2"] + [
        f"{q}\n{extras[i % len(extras)]}" for i, q in enumerate(gsm8k[:50])
    ]
    prepared = prepare_text(pa.array(texts))
    for sig in [*SignalRegistry.default(), Capability()]:
        big = sig.match_matrix(prepared)
        small = np.vstack([sig.match_matrix(prepared.slice(i, SMALL_BATCH))
                           for i in range(0, len(prepared), SMALL_BATCH)])
        assert big.any(), sig.name
        assert (big == small).all(), sig.name


def test_collapse_ws_of_a_batch_with_only_whitespace():
    """A batch without prompt text (an access log) joins prompt and system as bare newlines;
    it used to raise IndexError."""
    import pyarrow as pa

    from distillguard.signals.textops import collapse_ws

    out = collapse_ws(pa.array(["\n", " ", "\t\n"] * 20, pa.string()))
    assert out.to_pylist() == [""] * 60
