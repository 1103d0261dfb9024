"""Degrade countermeasures in the ASGI path: token cap, watermark and canary; off after appeal."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "visible"])
def test_degraded_answers_are_capped_marked_and_traceable(
    store_dir: Path, write_policy: Callable, silent: bool
):
    scorer = OnlineScorer(
        store_dir,
        write_policy({"rules": [{"name": "review", "when": {"verdict": "review"},
                                 "action": "degrade"}]}, linkage={"silent_degrade": silent}),
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
    if silent:  # transformed all the same, but nothing in the headers says so
        assert not any(k.startswith("x-distillguard") for k in r.headers)
    else:
        assert r.headers["x-distillguard-degraded"] == "reasoning-withheld,canary,watermark"
    assert fake_openai_upstream.CALLS[-1]["max_tokens"] == 256  # the cap reached the model
    answer = r.json()["choices"][0]["message"]["content"]
    assert answer.startswith("The answer is 4.") and "DG-" in answer
    assert int(r.headers["content-length"]) == len(r.content)
    hit = check_canaries([answer], registry)
    assert [x["account_id"] for x in hit["reproduced"]] == ["rev-1"]
    assert "distillguard_countermeasures_total" in scorer.metrics.render()
    audit = (store_dir / "audit.jsonl").read_text()
    assert "degrade_transform" in audit and "max_tokens_cap" in audit and "canary" in audit
    entries = [e for e in scorer.audit.entries() if e["action"] == "degrade_transform"]
    assert entries and all(e["extra"]["silent"] is silent for e in entries)

    ok = asyncio.run(ask("good-1"))  # not degraded: untouched
    assert "DG-" not in ok.json()["choices"][0]["message"]["content"]
    assert fake_openai_upstream.CALLS[-1]["max_tokens"] == 4096

    scorer.appeal("rev-1", actor="analyst", reason="false positive", allow=True)
    after = asyncio.run(ask("rev-1"))
    assert "x-distillguard-degraded" not in after.headers
    assert "DG-" not in after.json()["choices"][0]["message"]["content"]


def test_litellm_post_call_marks_degraded_answers(store_dir: Path, write_policy: Callable):
    import litellm
    from litellm.proxy._types import UserAPIKeyAuth

    from distillguard.online.litellm_guard import DistillguardLiteLLM

    scorer = OnlineScorer(
        store_dir,
        write_policy({"rules": [{"name": "review", "when": {"verdict": "review"},
                                 "action": "degrade"}]}),
    )
    guard = DistillguardLiteLLM(scorer, late_wait_s=5.0)
    registry = store_dir / "canaries.jsonl"
    guard.enforcer.countermeasures = Countermeasures(Watermark(KEY), CanaryIssuer(KEY, registry), 128)

    async def run():
        data = {"model": "m", "max_tokens": 2048, "litellm_call_id": "call-9",
                "messages": [{"role": "user", "content": "what is 2 + 2?"}]}
        user = UserAPIKeyAuth(user_id="rev-1")
        out = await guard.async_pre_call_hook(user, None, data, "completion")
        resp = litellm.ModelResponse(**fake_openai_upstream.completion("m"))
        resp = await guard.async_post_call_success_hook(out, user, resp)
        return out, resp

    out, resp = asyncio.run(run())
    assert out["max_tokens"] == 128
    content = resp.choices[0].message.content
    assert content.startswith("The answer is 4.") and "DG-" in content
    assert check_canaries([content], registry)["reproduced"][0]["account_id"] == "rev-1"
    assert "degrade_transform" in (store_dir / "audit.jsonl").read_text()
