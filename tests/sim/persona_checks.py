"""Shared checks of the random worlds' hard-benign personas (generators 3 and 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from distillguard.sim import simulate
from distillguard.sim.scenario import Scenario
from distillguard.sim.world import draw_scenario


def persona_traffic(
    tmp_path: Path, readers, tactics: dict, accounts: int, requests: int, use_corpora: bool = True
) -> dict:
    """Accounts and requests of each persona in ``tactics`` (persona -> its tactics), in a tiny
    world where each has ``accounts`` accounts sending ``requests`` requests."""
    read_log, read_csv = readers
    data = draw_scenario("tiny", 2).to_dict()
    for persona, given in tactics.items():
        data["hard_benign"][persona] = {"accounts": accounts, "requests": requests, "tactics": given}
    simulate(Scenario.from_dict(data), out=tmp_path, seed=2, progress=False, use_corpora=use_corpora)
    persona_of = {r["account_id"]: r["persona"] for r in read_csv(tmp_path / "labels.csv")}
    out = {p: {"accounts": [], "rows": []} for p in tactics}
    for a in read_csv(tmp_path / "accounts.csv"):
        if persona_of[a["account_id"]] in out:
            out[persona_of[a["account_id"]]]["accounts"].append(a)
    for r in read_log(tmp_path / "requests.jsonl.gz"):
        if persona_of[r["account_id"]] in out:
            out[persona_of[r["account_id"]]]["rows"].append(r)
    return out


def signup_times(accounts: list[dict]) -> list[dt.datetime]:
    """The accounts' sign-up times, in order."""
    return sorted(dt.datetime.fromisoformat(a["created_at"]) for a in accounts)


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
