"""The LiteLLM callback: its hooks against LiteLLM's own types and SDK, and end to end in a real
LiteLLM proxy (subprocess) in front of the fake OpenAI-compatible upstream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

# LiteLLM's price map from the package, not the network (no retries without a network).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm", reason="pip install litellm to test the LiteLLM callback")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic notes inside litellm

from fastapi import HTTPException  # noqa: E402
from litellm.integrations.custom_guardrail import CustomGuardrail  # noqa: E402
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402
from litellm.types.guardrails import GuardrailEventHooks  # noqa: E402

from distillguard.online.litellm_guard import (  # noqa: E402
    DistillguardGuardrail,
    DistillguardLiteLLM,
    default_account_resolver,
)
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


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "visible"])
def test_hooks_with_litellm_types(store_dir: Path, write_policy: Callable, silent: bool) -> None:
    policy = write_policy({"rules": RULES}, linkage={"silent_degrade": silent})
    scorer = OnlineScorer(store_dir, policy)
    guard = DistillguardLiteLLM(scorer, late_wait_s=5.0)
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
        assert guard.enforcer._seen["call-1"].queued
        resp = litellm.ModelResponse(**fake_openai_upstream.completion("m"))
        assert resp.choices[0].message.reasoning_content
        resp = await guard.async_post_call_success_hook(out, UserAPIKeyAuth(user_id="new-1"), resp)
        assert getattr(resp.choices[0].message, "reasoning_content", None) is None
        assert resp.choices[0].message.content == "The answer is 4."
        # the headers the proxy sends with the answer: a marker only for a visible degrade
        sent = (resp._hidden_params or {}).get("additional_headers") or {}
        marks = {k: v for k, v in sent.items() if k.startswith("x-distillguard")}
        if silent:
            assert marks == {}
        else:
            assert marks == {"x-distillguard-action": "degrade",
                             "x-distillguard-degraded": "reasoning_withheld"}

    asyncio.run(run())
    entries = [e for e in scorer.audit.entries() if e["action"] == "degrade_transform"]
    assert entries and all(e["extra"]["silent"] is silent for e in entries)


def test_the_account_is_the_authenticated_key_never_a_client_field() -> None:
    key = UserAPIKeyAuth(user_id="hydra-1", team_id="t1", token="h4sh")
    client_says = {"user": "fresh-1", "metadata": {"distillguard_account_id": "fresh-1"}}
    assert default_account_resolver(key, client_says) == "hydra-1"
    assert default_account_resolver(UserAPIKeyAuth(team_id="t1"), client_says) == "t1"
    assert default_account_resolver(UserAPIKeyAuth(token="h4sh"), client_says) == "h4sh"
    raw = default_account_resolver(UserAPIKeyAuth(api_key="sk-secret"), client_says)
    assert raw and "sk-secret" not in raw  # a hash of the key, never the key
    assert default_account_resolver(UserAPIKeyAuth(), client_says) is None


def test_a_blocked_key_cannot_name_a_fresh_account(store_dir: Path, write_policy: Callable) -> None:
    guard = DistillguardLiteLLM(OnlineScorer(store_dir, write_policy({"rules": RULES})))

    async def run() -> None:
        data = {"model": "m", "messages": _msg(), "user": "fresh-1"}
        with pytest.raises(HTTPException) as exc:
            await guard.async_pre_call_hook(UserAPIKeyAuth(user_id="hydra-1"), None, data, "x")
        assert exc.value.status_code == 403
        # no identity at all: decided under one shared account and counted, not passed silently
        data = {"model": "m", "messages": _msg(), "user": "good-1", "litellm_call_id": "anon"}
        await guard.async_pre_call_hook(UserAPIKeyAuth(), None, data, "x")
        assert data["metadata"]["distillguard"]["account_id"] == "unidentified"
        m = guard.scorer.metrics
        assert m.value("distillguard_unidentified_total", integration="litellm") == 1

    asyncio.run(run())


def test_usage_of_a_proxy_call_reaches_the_account_state(
    store_dir: Path, write_policy: Callable
) -> None:
    """The success event of a call the pre-call hook queued raised TypeError (record None)."""
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    guard = DistillguardLiteLLM(scorer)

    async def run() -> None:
        data = {"model": "m", "messages": _msg(), "litellm_call_id": "call-9"}
        await guard.async_pre_call_hook(UserAPIKeyAuth(user_id="acct-9"), None, data, "x")
        resp = litellm.ModelResponse(**fake_openai_upstream.completion("m"))
        meta = {"user_api_key_user_id": "acct-9", **data["metadata"]}  # as the proxy logs it
        kwargs = {
            "litellm_call_id": "call-9",
            "model": "m",
            "messages": _msg(),
            "litellm_params": {"metadata": meta},
        }
        await guard.async_log_success_event(kwargs, resp, None, None)

    asyncio.run(run())
    scorer.learner().wait_idle(10)
    f = scorer.state.peek("acct-9", 1_900_000_000_000)
    assert f["n_total"] == 1 and f["out_in_ratio"] > 0  # learned once, with its tokens
    assert "distillguard_observe_errors_total" not in scorer.metrics.render()


def test_guardrail_modes_with_litellm_types(store_dir: Path, write_policy: Callable) -> None:
    rules = RULES + [
        {
            "name": "cot-block",
            "when": {"sig_cot": {">=": 0.5}, "model": "strict"},
            "action": "block",
            "scope": "request",
        },
    ]
    scorer = OnlineScorer(store_dir, write_policy({"rules": rules}))
    modes = ["pre_call", "during_call", "post_call"]
    guard = DistillguardGuardrail(
        scorer=scorer,
        guardrail_name="distillguard",
        event_hook=modes,
        default_on=True,
        late_wait_s=5.0,
    )
    assert isinstance(guard, CustomGuardrail)
    for hook in (
        GuardrailEventHooks.pre_call,
        GuardrailEventHooks.during_call,
        GuardrailEventHooks.post_call,
    ):
        assert guard.should_run_guardrail({"metadata": {}}, hook)
    off = DistillguardGuardrail(
        scorer=scorer, guardrail_name="distillguard", event_hook="pre_call", default_on=False
    )
    assert not off.should_run_guardrail({"metadata": {}}, GuardrailEventHooks.pre_call)
    assert off.should_run_guardrail(  # switched on per key / team through its metadata
        {"metadata": {"guardrails": ["distillguard"]}}, GuardrailEventHooks.pre_call
    )

    async def run() -> None:
        key = UserAPIKeyAuth(user_id="new-2")
        # pre_call lets it through (nothing known), during_call blocks on its own text
        data = {"model": "strict", "messages": _msg(HARVEST.format(i=3)), "litellm_call_id": "c1"}
        await guard.async_pre_call_hook(key, None, data, "acompletion")
        with pytest.raises(HTTPException) as exc:
            await guard.async_moderation_hook(data, key, "acompletion")
        assert exc.value.status_code == 403
        # during_call alone (no pre_call) scores the request inline
        data = {"model": "strict", "messages": _msg(HARVEST.format(i=4)), "litellm_call_id": "c2"}
        with pytest.raises(HTTPException):
            await guard.async_moderation_hook(data, UserAPIKeyAuth(user_id="new-3"), "x")
        # post_call degrades from the full decision
        data = {"model": "m", "messages": _msg(HARVEST.format(i=5)), "litellm_call_id": "c3"}
        await guard.async_pre_call_hook(UserAPIKeyAuth(user_id="new-4"), None, data, "x")
        resp = litellm.ModelResponse(**fake_openai_upstream.completion("m"))
        resp = await guard.async_post_call_success_hook(data, key, resp)
        assert getattr(resp.choices[0].message, "reasoning_content", None) is None

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
                        # the SDK caller is the operator's own code: it names the account
                        metadata={"distillguard_account_id": "sdk-acct"},
                    )
                    assert r.choices[0].message.content == "The answer is 4."
                for _ in range(100):  # LiteLLM runs success loggers as background tasks
                    f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
                    if f and f["n_total"] == 3 and f["out_in_ratio"] > 0:
                        break
                    await asyncio.sleep(0.05)
            finally:
                _unregister(guard)

        asyncio.run(run())
    f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
    assert f["n_total"] == 3 and f["signal_rate"] == 1.0 and f["out_in_ratio"] == pytest.approx(4.0)


# The proxy's own authentication: each key is one account (LiteLLM's virtual keys do the same
# with a database; a custom_auth keeps this test without one).
KEYS_MODULE = """
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {"sk-good": "good-1", "sk-hydra": "hydra-2", "sk-rev": "rev-1", "sk-new": "new-1"}


async def user_api_key_auth(request, api_key):
    user = KEYS.get(api_key.removeprefix("Bearer ").strip())
    if user is None:
        raise Exception("unknown key")
    return UserAPIKeyAuth(api_key=api_key, user_id=user)
"""


def _start_proxy(proxy_dir: Path, env: dict, port: int, log_path: Path) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "litellm"
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process by the caller
    proc = subprocess.Popen(
        [str(exe), "--config", "config.yaml", "--port", str(port), "--host", "127.0.0.1"],
        cwd=proxy_dir,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"{base}/health/liveliness", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("LiteLLM proxy did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.5)


def _unregister(guard: Any) -> None:
    """Take a callback out of every list LiteLLM copied it into (it keeps one per class)."""
    litellm.callbacks = []
    litellm.logging_callback_manager.remove_callback_from_all_lists(guard)


def _sdk_through_the_proxy(base: str, data: Path) -> None:
    """The SDK path: an application calls the proxy with litellm and scores on its side."""
    scorer = OnlineScorer(data)
    guard = DistillguardLiteLLM(scorer)

    async def run() -> None:
        litellm.callbacks = [guard]
        try:
            for i in range(2):
                r = await litellm.acompletion(
                    model="openai/fake-model",
                    api_base=f"{base}/v1",
                    api_key="sk-good",
                    messages=_msg(HARVEST.format(i=i)),
                    metadata={"distillguard_account_id": "sdk-acct"},
                )
                assert r.choices[0].message.content == "The answer is 4."
            deadline = time.time() + 60  # success loggers run as background tasks
            while time.time() < deadline:
                f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
                if f and f["n_total"] == 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            _unregister(guard)

    asyncio.run(run())
    f = scorer.state.peek("sdk-acct", 1_900_000_000_000)
    assert f["n_total"] == 2 and f["signal_rate"] == 1.0 and f["out_in_ratio"] > 0
    scorer.close()


@pytest.mark.slow
def test_real_litellm_proxy_with_the_guardrail(
    store_dir: Path, write_policy: Callable, serve: Callable, tmp_path: Path
) -> None:
    if not (Path(sys.executable).parent / "litellm").exists():
        pytest.skip("the litellm CLI is not installed")
    proxy_dir = tmp_path / "proxy"
    proxy_dir.mkdir()
    config = (EXAMPLES / "litellm" / "config.yaml").read_text()
    config = config.replace(
        "general_settings:\n", "general_settings:\n  custom_auth: test_keys.user_api_key_auth\n"
    )
    (proxy_dir / "config.yaml").write_text(config)
    (proxy_dir / "test_keys.py").write_text(KEYS_MODULE)
    policy = write_policy({"rules": RULES})
    port = free_port()
    with serve(fake_openai_upstream.app) as up:
        env = {
            **os.environ,
            "UPSTREAM_API_BASE": f"{up.url}/v1",
            "LITELLM_MASTER_KEY": "sk-master",
            "DISTILLGUARD_DATA": str(store_dir),
            "DISTILLGUARD_POLICY": str(policy),
            "LITELLM_LOG": "ERROR",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISTILLGUARD_LATE_WAIT_S": "10",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        proc = _start_proxy(proxy_dir, env, port, tmp_path / "proxy.log")
        try:
            base = f"http://127.0.0.1:{port}"

            def ask(key: str, text: str = "hello", user: str | None = None) -> httpx.Response:
                body: dict = {"model": "fake-model", "messages": _msg(text)}
                if user:
                    body["user"] = user
                return httpx.post(
                    f"{base}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                    json=body,
                )

            ok = ask("sk-good")
            assert ok.status_code == 200, ok.text
            assert ok.json()["choices"][0]["message"]["reasoning_content"]
            blocked = ask("sk-hydra")
            assert blocked.status_code == 403 and "access_blocked" in blocked.text, blocked.text
            # naming a fresh account in the OpenAI `user` field changes nothing
            assert ask("sk-hydra", user="fresh-1").status_code == 403
            assert ask("sk-rev").status_code == 200
            limited = ask("sk-rev")
            assert limited.status_code == 429, limited.text
            degraded = ask("sk-new", HARVEST.format(i=1))
            assert degraded.status_code == 200, degraded.text
            msg = degraded.json()["choices"][0]["message"]
            assert msg["content"] == "The answer is 4." and not msg.get("reasoning_content")
            # the shipped policy degrades silently: no marker reaches the client
            assert not any(k.startswith("x-distillguard") for k in degraded.headers)
            _sdk_through_the_proxy(base, tmp_path / "sdk-data")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    from distillguard.online.audit import AuditLog

    audit = AuditLog(store_dir / "audit.jsonl")
    assert audit.verify().ok
    assert {"block", "degrade"} <= {e["action"] for e in audit.entries()}


def test_the_org_is_the_keys_and_a_trusted_source_only_for_unlisted_accounts(
    store_dir: Path, write_policy: Callable
) -> None:
    """The org comes from the authenticated key's ``org_id`` (LiteLLM's organisation), not its
    team or a client field, and the guardrail is a trusted org source: it counts for an
    account the account table does not list; with ``trusted_org_source=False`` it does not."""
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES, "allow_orgs": ["org-ok"]}))
    scorer.actions.apply("account", "new-9", "block", actor="a", reason="abuse")
    scorer.refresh_actions(force=True)

    async def status(guard: DistillguardLiteLLM, key: UserAPIKeyAuth, i: int) -> int:
        data = {"model": "m", "messages": _msg(), "litellm_call_id": f"c{i}",
                "metadata": {"org_id": "org-ok"}}
        try:
            await guard.async_pre_call_hook(key, None, data, "completion")
        except HTTPException as exc:
            return exc.status_code
        return 200

    trusted, untrusted = DistillguardLiteLLM(scorer), DistillguardLiteLLM(
        scorer, trusted_org_source=False
    )
    assert asyncio.run(status(trusted, UserAPIKeyAuth(user_id="new-9", org_id="org-ok"), 0)) == 200
    assert asyncio.run(status(trusted, UserAPIKeyAuth(user_id="new-9", team_id="org-ok"), 1)) == 403
    assert asyncio.run(status(trusted, UserAPIKeyAuth(user_id="new-9"), 2)) == 403
    key = UserAPIKeyAuth(user_id="new-9", org_id="org-ok")
    assert asyncio.run(status(untrusted, key, 3)) == 403
