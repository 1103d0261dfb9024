"""Degrade countermeasures in the ASGI path: token cap, watermark and canary; off after appeal."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from distillguard.countermeasures.apply import Countermeasures
from distillguard.countermeasures.canary import CanaryIssuer, check_canaries
from distillguard.countermeasures.watermark import Watermark
from distillguard.online.guard import LocalGuard
from distillguard.online.scorer import OnlineScorer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "gateway"))
import fake_openai_upstream  # noqa: E402
from asgi_proxy import create_proxy  # noqa: E402

KEY = b"countermeasure-test-key-01"
UPSTREAM = httpx.ASGITransport(app=fake_openai_upstream.app)


def test_degraded_answers_are_capped_marked_and_traceable(store_dir: Path, write_policy: Callable):
    scorer = OnlineScorer(
        store_dir,
        write_policy({"rules": [{"name": "review", "when": {"verdict": "review"},
                                 "action": "degrade"}]}),
    )
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)
    registry = store_dir / "canaries.jsonl"
    app.countermeasures = Countermeasures(Watermark(KEY), CanaryIssuer(KEY, registry), 256)
    body = {"model": "fake-model", "max_tokens": 4096,
            "messages": [{"role": "user", "content": "what is 2 + 2?"}]}

    async def ask(account: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://proxy") as c:
            return await c.post("/v1/chat/completions", json=body,
                                headers={"X-Account-Id": account})

    fake_openai_upstream.CALLS.clear()
    r = asyncio.run(ask("rev-1"))
    assert r.headers["x-distillguard-degraded"] == "reasoning-withheld,canary,watermark"
    assert fake_openai_upstream.CALLS[-1]["max_tokens"] == 256  # the cap reached the model
    answer = r.json()["choices"][0]["message"]["content"]
    assert answer.startswith("The answer is 4.") and "DG-" in answer
    assert int(r.headers["content-length"]) == len(r.content)
    hit = check_canaries([answer], registry)
    assert [x["account_id"] for x in hit["reproduced"]] == ["rev-1"]
    assert "distillguard_countermeasures_total" in scorer.metrics.render()

    ok = asyncio.run(ask("good-1"))  # not degraded: untouched
    assert "DG-" not in ok.json()["choices"][0]["message"]["content"]
    assert fake_openai_upstream.CALLS[-1]["max_tokens"] == 4096

    scorer.appeal("rev-1", actor="analyst", reason="false positive", allow=True)
    after = asyncio.run(ask("rev-1"))
    assert "x-distillguard-degraded" not in after.headers
    assert "DG-" not in after.json()["choices"][0]["message"]["content"]
