"""Shared checks of the random worlds' hard-benign personas (generators 3 and 4)."""

from __future__ import annotations


def assert_spans_loose_to_tight(drawn: list[dict], personas, shares: dict) -> None:
    """Each persona drawn in most worlds, not all, and each of its tactics from loose to tight
    across them: sign-up waves short and long, every flag both ways, every share low and high."""
    from distillguard.sim.scenario import PERSONA_TACTICS

    for persona in personas:
        specs = [d[persona] for d in drawn if persona in d]
        assert 15 <= len(specs) <= 38, persona  # present in most worlds, not in every one
        tactics = [s.tactics for s in specs]
        assert set(tactics[0]) == set(PERSONA_TACTICS[persona])
        waves = [t["signup_wave_days"] for t in tactics]
        assert min(waves) < 2 and max(waves) > 10, persona
        flags = [k for k, v in PERSONA_TACTICS[persona].items() if isinstance(v[0], bool)]
        for flag in flags:
            assert {t[flag] for t in tactics} == {True, False}, (persona, flag)
        for share in shares[persona]:
            values = [t[share] for t in tactics]
            assert min(values) < 0.3 and max(values) > 0.7, (persona, share)
