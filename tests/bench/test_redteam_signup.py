"""``bench-redteam``'s sign-up path: accounts are signed up (``POST /v1/signup``) before use."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from distillguard.bench.redteam import run_redteam
from distillguard.bench.redteam_gateway import HttpGateway, InProcessGateway
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

TOKEN = "redteam-signup-token"


def wave(now_ms: float) -> list[dict]:
    """Six sign-ups in ten minutes from one uncommon domain, one /24 and one country."""
    return [
        {
            "account_id": f"acct_wave_{i}",
            "signup_route": "standard",
            "verification": "email",
            "email_domain": "quillmoss-mail.example",
            "payment_fingerprint": f"pf_wave_{i}",
            "country": "NZ",
            "ip": f"81.2.69.{10 + i}",
            "created_at": now_ms + i * 100_000,
        }
        for i in range(6)
    ]


def waves_of(index: object, accounts: list[str]) -> list[tuple[str, ...]]:
    return [index._signup.get(a, ()) for a in accounts]  # type: ignore[attr-defined]


def test_a_wave_of_signups_joins_the_linkage_index_in_process_and_over_http(
    tmp_path: Path,
) -> None:
    """The same wave, in process and through the service: the same actions, and every
    account from the third on (two earlier sign-ups make a domain wave: ``signup/risk``) is
    noted in the domain's wave, so its requests get a ``signup:`` key; the first two are not."""
    bodies = wave(time.time() * 1000)  # the service scores on the wall clock: stay near it
    ids = [b["account_id"] for b in bodies]
    local = InProcessGateway(tmp_path / "local", None, "memory")
    got_local = [local.signup(dict(b)) for b in bodies]
    keys_local = waves_of(local.scorer.linked.index, ids)
    local.close()

    scorer = OnlineScorer(tmp_path / "http", load_results=False)
    app = create_app(scorer, TOKEN, watch_interval_s=3600)
    remote = HttpGateway("http://testserver")
    remote.client.close()
    with TestClient(app, headers={"authorization": f"Bearer {TOKEN}"}) as client:
        remote.client = client
        got_http = [remote.signup(dict(b)) for b in bodies]
    keys_http = waves_of(scorer.linked.index, ids)
    scorer.close()

    assert got_local == got_http
    assert set(got_local) <= {"allow", "step_up", "manual_review"}
    for keys in (keys_local, keys_http):
        assert not any(k.startswith("signup:domain|") for ks in keys[:2] for k in ks)
        assert all(any(k.startswith("signup:domain|") for k in ks) for ks in keys[2:])


@pytest.mark.parametrize("signup", [True, False])
def test_the_bench_signs_every_account_up_unless_told_not_to(
    tmp_path: Path, signup: bool
) -> None:
    """With the sign-up path every account an attacker opens, and every benign account of
    the world's account table, goes through it once; without it, none does."""
    got = run_redteam(
        size="tiny",
        seed=3,
        strategies=("rotating",),
        answers=200,
        max_accounts=50,
        data_root=tmp_path / "worlds",
        progress=False,
        baseline=False,
        hours=12,
        signup=signup,
    )
    r = got["results"][0]
    if not signup:
        assert r["signups"] == {} and r["benign_signups"] == {}
        return
    assert sum(r["signups"].values()) == r["accounts"]
    assert sum(r["benign_signups"].values()) >= r["benign_accounts"] > 0
    assert got["baseline"][0]["signups"] == {"allow": got["baseline"][0]["accounts"]}
