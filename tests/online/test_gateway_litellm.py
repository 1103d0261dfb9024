"""The LiteLLM callback: its hooks against LiteLLM's own types and SDK, and end to end in a real
LiteLLM proxy (subprocess) in front of the fake OpenAI-compatible upstream."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

litellm = pytest.importorskip("litellm", reason="pip install litellm to test the LiteLLM callback")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic notes inside litellm

from fastapi import HTTPException  # noqa: E402
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402

from distillguard.online.litellm_guard import DistillguardLiteLLM  # noqa: E402
from distillguard.online.scorer import OnlineScorer  # noqa: E402

from .conftest import HARVEST, free_port  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "gateway"
sys.path.insert(0, str(EXAMPLES))
import fake_openai_upstream  # noqa: E402

RULES = [
    {
        "name": "bad-cluster",
        "when": {"cluster_verdict": "attack"},
        "action": "block",
        "scope": "cluster",
    },
    {
        "name": "review",
        "when": {"verdict": "review", "in_cluster": False},
        "action": "rate_limit",
        "scope": "account",
        "rate_per_s": 0.01,
        "burst": 1,
    },
    {"name": "harvest", "when": {"sig_cot": {">=": 0.5}}, "action": "degrade", "scope": "request"},
]


def _msg(text: str = "hello") -> list[dict]:
    return [{"role": "user", "content": text}]


def test_hooks_with_litellm_types(store_dir: Path, write_policy: Callable) -> None:
    guard = DistillguardLiteLLM(
        OnlineScorer(store_dir, write_policy({"rules": RULES})), late_wait_s=5.0
    )
    assert isinstance(guard, litellm.integrations.custom_logger.CustomLogger)

    async def run() -> None:
        key = UserAPIKeyAuth(user_id="hydra-1", api_key="hashed-key")
        with pytest.raises(HTTPException) as exc:
            await guard.async_pre_call_hook(
                key, None, {"model": "m", "messages": _msg()}, "completion"
            )
        assert (
            exc.value.status_code == 403 and exc.value.detail["error"]["type"] == "access_blocked"
        )
        rev = UserAPIKeyAuth(user_id="rev-1")
        await guard.async_pre_call_hook(rev, None, {"model": "m", "messages": _msg()}, "completion")
        with pytest.raises(HTTPException) as exc:
            await guard.async_pre_call_hook(
                rev, None, {"model": "m", "messages": _msg()}, "completion"
            )
        assert exc.value.status_code == 429 and exc.value.headers["Retry-After"]
        # degrade: the full decision (this request's own signals) strips the reasoning
        data = {"model": "m", "messages": _msg(HARVEST.format(i=1)), "litellm_call_id": "call-1"}
        out = await guard.async_pre_call_hook(
            UserAPIKeyAuth(user_id="new-1"), None, data, "completion"
        )
        assert out["metadata"]["distillguard"]["queued"] is True
        resp = litellm.ModelResponse(**fake_openai_upstream.completion("m"))
        assert resp.choices[0].message.reasoning_content
        resp = await guard.async_post_call_success_hook(out, UserAPIKeyAuth(user_id="new-1"), resp)
        assert getattr(resp.choices[0].message, "reasoning_content", None) is None
        assert resp.choices[0].message.content == "The answer is 4."

    asyncio.run(run())


def test_log_success_event_through_the_litellm_sdk(store_dir: Path, serve: Callable) -> None:
    scorer = OnlineScorer(store_dir)
    guard = DistillguardLiteLLM(scorer)
    with serve(fake_openai_upstream.app) as up:

        async def run() -> None:
            litellm.callbacks = [guard]
            try:
                for i in range(3):
                    r = await litellm.acompletion(
                        model="openai/fake-model",
                        api_base=f"{up.url}/v1",
                        api_key="x",
                        messages=_msg(HARVEST.format(i=i)),
                        user="sdk-acct",
                    )
                    assert r.choices[0].message.content == "The answer is 4."
                for _ in range(100):  # LiteLLM runs success loggers as background tasks
                    f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
                    if f and f["n_total"] == 3 and f["out_in_ratio"] > 0:
                        break
                    await asyncio.sleep(0.05)
            finally:
                litellm.callbacks = []

        asyncio.run(run())
    f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
    assert f["n_total"] == 3 and f["signal_rate"] == 1.0 and f["out_in_ratio"] == pytest.approx(4.0)


@pytest.mark.slow
def test_real_litellm_proxy_end_to_end(
    store_dir: Path, write_policy: Callable, serve: Callable, tmp_path: Path
) -> None:
    exe = Path(sys.executable).parent / "litellm"
    if not exe.exists():
        pytest.skip("the litellm CLI is not installed")
    proxy_dir = tmp_path / "proxy"
    proxy_dir.mkdir()
    for f in ("config.yaml", "custom_callbacks.py"):
        shutil.copy(EXAMPLES / "litellm" / f, proxy_dir / f)
    policy = write_policy({"rules": RULES})
    port = free_port()
    with serve(fake_openai_upstream.app) as up:
        env = {
            **os.environ,
            "UPSTREAM_API_BASE": f"{up.url}/v1",
            "LITELLM_MASTER_KEY": "sk-test",
            "DISTILLGUARD_DATA": str(store_dir),
            "DISTILLGUARD_POLICY": str(policy),
            "LITELLM_LOG": "ERROR",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISTILLGUARD_LATE_WAIT_S": "10",
        }
        log = open(tmp_path / "proxy.log", "w")
        proc = subprocess.Popen(
            [str(exe), "--config", "config.yaml", "--port", str(port), "--host", "127.0.0.1"],
            cwd=proxy_dir,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 120
            while True:
                try:
                    if httpx.get(f"{base}/health/liveliness", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(
                        "LiteLLM proxy did not start:\n"
                        + (tmp_path / "proxy.log").read_text()[-3000:]
                    )
                time.sleep(0.5)
            h = {"Authorization": "Bearer sk-test"}

            def ask(user: str, text: str = "hello") -> httpx.Response:
                return httpx.post(
                    f"{base}/v1/chat/completions",
                    headers=h,
                    timeout=30,
                    json={"model": "fake-model", "user": user, "messages": _msg(text)},
                )

            ok = ask("good-1")
            assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["reasoning_content"]
            blocked = ask("hydra-2")
            assert blocked.status_code == 403, blocked.text
            assert "access_blocked" in blocked.text
            assert ask("rev-1").status_code == 200
            limited = ask("rev-1")
            assert limited.status_code == 429, limited.text
            degraded = ask("new-1", HARVEST.format(i=1))
            assert degraded.status_code == 200
            msg = degraded.json()["choices"][0]["message"]
            assert msg["content"] == "The answer is 4." and not msg.get("reasoning_content")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    from distillguard.online.audit import AuditLog

    audit = AuditLog(store_dir / "audit.jsonl")
    assert audit.verify().ok
    assert {"block", "degrade"} <= {e["action"] for e in audit.entries()}
