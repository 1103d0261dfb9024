"""End to end: the ASGI middleware in an OpenAI-compatible proxy in front of a fake upstream,
driven with httpx; local (in-process) and remote (HTTP scorer) guards; fail-open/closed."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.online.asgi import api_key_account_resolver, key_account
from distillguard.online.guard import LocalGuard, RemoteGuard
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "gateway"))
import fake_openai_upstream  # noqa: E402
from asgi_proxy import create_proxy  # noqa: E402

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


def chat(text: str = "hello there", stream: bool = False) -> dict[str, Any]:
    return {
        "model": "fake-model",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def proxy_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


UPSTREAM = httpx.ASGITransport(app=fake_openai_upstream.app)


def marker(r: httpx.Response) -> str | None:
    """What the caller can see of a degrade: the action header (None: no marker)."""
    return r.headers.get("x-distillguard-action")


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "visible"])
def test_local_guard_enforces_every_action(
    store_dir: Path, write_policy: Callable, silent: bool
) -> None:
    policy = write_policy({"rules": RULES}, linkage={"silent_degrade": silent})
    scorer = OnlineScorer(store_dir, policy)
    # The fake upstream answers at once; a real model takes seconds, by which time the full
    # decision is ready. late_wait_s makes the test wait for it deterministically.
    guard = LocalGuard(scorer, late_wait_s=5.0)
    app = create_proxy("http://upstream", guard, transport=UPSTREAM)

    async def run() -> None:
        async with proxy_client(app) as c:
            fake_openai_upstream.CALLS.clear()
            # allow: passes through untouched, reasoning included
            r = await c.post(
                "/v1/chat/completions", json=chat(), headers={"X-Account-Id": "good-1"}
            )
            assert r.status_code == 200 and marker(r) is None  # an answer carries no marker
            assert "reasoning_content" in r.json()["choices"][0]["message"]
            allowed_headers = sorted(k for k in r.headers if k != "content-length")
            # block: a known attack cluster member never reaches the upstream
            n = len(fake_openai_upstream.CALLS)
            r = await c.post(
                "/v1/chat/completions", json=chat(), headers={"X-Account-Id": "hydra-2"}
            )
            assert r.status_code == 403 and r.json()["error"]["type"] == "access_blocked"
            assert len(fake_openai_upstream.CALLS) == n
            # rate_limit: burst 1, then 429 with Retry-After
            r1 = await c.post(
                "/v1/chat/completions", json=chat(), headers={"X-Account-Id": "rev-1"}
            )
            r2 = await c.post(
                "/v1/chat/completions", json=chat(), headers={"X-Account-Id": "rev-1"}
            )
            assert r1.status_code == 200 and r2.status_code == 429
            assert (
                r2.json()["error"]["type"] == "rate_limit_exceeded"
                and int(r2.headers["retry-after"]) >= 1
            )
            # degrade: decided by the full (background) scoring of this very request while the
            # upstream answered; the reasoning is withheld from the answer
            r = await c.post(
                "/v1/chat/completions",
                json=chat(HARVEST.format(i=1)),
                headers={"X-Account-Id": "new-1", "x-request-id": "req-degrade"},
            )
            # silent: it looks like the allowed answer above (same headers, no marker)
            assert r.status_code == 200
            if silent:
                assert marker(r) is None and "x-distillguard-degraded" not in r.headers
                assert sorted(k for k in r.headers if k != "content-length") == allowed_headers
            else:
                assert marker(r) == "degrade"
                assert r.headers["x-distillguard-degraded"] == "reasoning-withheld"
            msg = r.json()["choices"][0]["message"]
            assert msg["content"] == "The answer is 4." and "reasoning_content" not in msg
            # streaming answers are degraded chunk by chunk
            r = await c.post(
                "/v1/chat/completions",
                json=chat(HARVEST.format(i=3), stream=True),
                headers={"X-Account-Id": "new-1", "x-request-id": "req-stream"},
            )
            assert r.status_code == 200 and marker(r) == (None if silent else "degrade")
            assert "reasoning_content" not in r.text and "is 4." in r.text
            await guard.drain()

    asyncio.run(run())
    # the audit records the degrade either way, and whether the caller was shown it
    entries = [e for e in scorer.audit.entries() if e["action"] == "degrade_transform"]
    assert entries and all(e["extra"]["silent"] is silent for e in entries)
    degrades = [e for e in scorer.audit.entries() if e["action"] == "degrade"]
    assert degrades and all(e["extra"]["silent"] is silent for e in degrades)
    scorer.learner().wait_idle(10)
    # usage events reached the account state (off the hot path)
    feats = scorer.state.peek("good-1", 1_900_000_000_000)
    assert feats is not None and feats["out_in_ratio"] == pytest.approx(4.0)
    assert (
        scorer.metrics.value(
            "distillguard_actions_total", action="block", scope="cluster", shadow="false"
        )
        >= 1
    )
    assert "distillguard_hook_seconds_bucket" in scorer.metrics.render()


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "visible"])
def test_degrade_strips_reasoning_from_json_answers(
    store_dir: Path, write_policy: Callable, silent: bool
) -> None:
    # The batch verdict 'review' → degrade on the O(1) path: deterministic.
    scorer = OnlineScorer(
        store_dir,
        write_policy(
            {"rules": [{"name": "review", "when": {"verdict": "review"}, "action": "degrade"}]},
            linkage={"silent_degrade": silent},
        ),
    )
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with proxy_client(app) as c:
            a = await c.post("/v1/chat/completions", json=chat(), headers={"X-Account-Id": "rev-1"})
            b = await c.post(
                "/v1/chat/completions", json=chat(stream=True), headers={"X-Account-Id": "rev-1"}
            )
            return a, b

    a, b = asyncio.run(run())
    msg = a.json()["choices"][0]["message"]
    if silent:  # no marker on the answer or the stream
        assert not any(k.startswith("x-distillguard") for k in (*a.headers, *b.headers))
    else:
        assert a.headers["x-distillguard-degraded"] == "reasoning-withheld"
        assert marker(a) == marker(b) == "degrade"
    assert "reasoning_content" not in msg and msg["content"] == "The answer is 4."
    assert "reasoning_tokens" not in a.json()["usage"]["completion_tokens_details"]
    assert int(a.headers["content-length"]) == len(a.content)
    assert "reasoning_content" not in b.text and "The answer " in b.text and "[DONE]" in b.text


def test_oversized_requests_are_refused(store_dir: Path) -> None:
    scorer = OnlineScorer(store_dir)
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)
    app.max_body_bytes = 2048

    async def run() -> httpx.Response:
        async with proxy_client(app) as c:
            return await c.post(
                "/v1/chat/completions", json=chat("x" * 4000), headers={"X-Account-Id": "a"}
            )

    assert asyncio.run(run()).status_code == 413


def test_requests_without_an_account_are_scored_by_key_or_address(
    store_dir: Path, write_policy: Callable
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    key = "sk-caller-1"
    scorer.actions.apply("account", key_account(key), "block", actor="analyst", reason="abuse")
    # httpx's ASGI transport connects from 127.0.0.1
    scorer.actions.apply("account", "ip:127.0.0.1", "block", actor="analyst", reason="abuse")
    scorer.refresh_actions(force=True)
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)

    async def run() -> list[httpx.Response]:
        async with proxy_client(app) as c:
            by_key = await c.post(
                "/v1/chat/completions", json=chat(), headers={"Authorization": f"Bearer {key}"}
            )
            by_ip = await c.post("/v1/chat/completions", json=chat())
            return [by_key, by_ip]

    by_key, by_ip = asyncio.run(run())
    assert by_key.status_code == 403 and by_ip.status_code == 403  # not passed silently
    m = scorer.metrics
    assert m.value("distillguard_unidentified_total", integration="asgi", by="key") == 1
    assert m.value("distillguard_unidentified_total", integration="asgi", by="ip") == 1


def test_the_api_key_can_be_the_authenticated_identity(
    store_dir: Path, write_policy: Callable
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)
    app.account_resolver = api_key_account_resolver
    scorer.actions.apply("account", key_account("sk-2"), "block", actor="a", reason="abuse")
    scorer.refresh_actions(force=True)

    async def run() -> list[int]:
        async with proxy_client(app) as c:
            out = []
            for k in ("sk-2", "sk-3"):
                # a client-set X-Account-Id does not matter when the key is the identity
                h = {"Authorization": f"Bearer {k}", "X-Account-Id": "good-1"}
                out.append(
                    (await c.post("/v1/chat/completions", json=chat(), headers=h)).status_code
                )
            return out

    assert asyncio.run(run()) == [403, 200]
    assert (
        scorer.metrics.value("distillguard_unidentified_total", integration="asgi", by="key") == 0
    )


def test_a_client_set_org_header_does_not_reach_the_allow_list(
    store_dir: Path, write_policy: Callable
) -> None:
    """allow_orgs is never restricted, so its org must come from as trusted a source as the
    account: with the API key as identity (or none), a client's X-Org-Id counts for nothing.
    The guard is configured as a trusted org source (the auth layer sets the org); without
    that, only the account table's org counts (tests/online/test_scorer_orgs.py)."""
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES, "allow_orgs": ["org-ok"]}))
    guard = LocalGuard(scorer, trusted_org_source=True)
    app = create_proxy("http://upstream", guard, transport=UPSTREAM)
    scorer.actions.apply("account", key_account("sk-2"), "block", actor="a", reason="abuse")
    scorer.actions.apply("account", "ip:127.0.0.1", "block", actor="a", reason="abuse")
    scorer.actions.apply("account", "acct-9", "block", actor="a", reason="abuse")
    scorer.refresh_actions(force=True)
    org = {"X-Org-Id": "org-ok"}

    async def post(headers: dict[str, str]) -> int:
        async with proxy_client(app) as c:
            r = await c.post("/v1/chat/completions", json=chat(), headers=headers)
            return r.status_code

    # header identity: the auth layer sets both headers, so the org is trusted beside the account
    assert asyncio.run(post({"X-Account-Id": "acct-9", **org})) == 200
    assert asyncio.run(post({"X-Account-Id": "acct-9"})) == 403
    # no authenticated account (scored by key or address): the claimed org is ignored
    assert asyncio.run(post({"Authorization": "Bearer sk-2", **org})) == 403
    assert asyncio.run(post(org)) == 403
    app.account_resolver = api_key_account_resolver
    assert asyncio.run(post({"Authorization": "Bearer sk-2", "X-Account-Id": "x", **org})) == 403
    app.org_resolver = lambda scope, headers: "org-ok"  # a deployment's own trusted source
    assert asyncio.run(post({"Authorization": "Bearer sk-2"})) == 200


@pytest.mark.parametrize(("mode", "expected"), [("open", 400), ("closed", 403)])
def test_a_body_that_is_not_json_is_decided_not_waved_on(
    store_dir: Path, write_policy: Callable, mode: str, expected: int
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES, "fail_mode": mode}))
    app = create_proxy("http://upstream", LocalGuard(scorer), transport=UPSTREAM)

    async def run(account: str) -> int:
        async with proxy_client(app) as c:
            r = await c.post(
                "/v1/chat/completions", content=b"{oops", headers={"X-Account-Id": account}
            )
            return r.status_code

    assert asyncio.run(run("hydra-1")) == 403  # a known block applies whatever the body
    assert asyncio.run(run("good-1")) == expected  # open: the upstream's own 400


def test_remote_guard_through_a_real_scorer(
    store_dir: Path, write_policy: Callable, serve: Callable
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES}))
    with serve(create_app(scorer, "tok")) as srv:

        async def run() -> list[int]:
            guard = RemoteGuard(srv.url, "tok", timeout_ms=2000)
            app = create_proxy("http://upstream", guard, transport=UPSTREAM)
            async with proxy_client(app) as c:
                out = []
                for acct in ("good-1", "hydra-1", "rev-1", "rev-1"):
                    r = await c.post(
                        "/v1/chat/completions", json=chat(), headers={"X-Account-Id": acct}
                    )
                    out.append(r.status_code)
                await guard.aclose()
                return out

        assert asyncio.run(run()) == [200, 403, 200, 429]
    scorer.learner().wait_idle(10)
    assert scorer.state.peek("good-1", 1_900_000_000_000)["n_total"] == 1


class Blackhole:
    """A TCP listener that accepts and never answers: a hung scorer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.stop = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_scorer_timeout_fails_open_or_closed(mode: str) -> None:
    hole = Blackhole()
    try:

        async def run() -> tuple[httpx.Response, RemoteGuard]:
            guard = RemoteGuard(hole.url, "tok", timeout_ms=50, fail_mode=mode)
            app = create_proxy("http://upstream", guard, transport=UPSTREAM)
            async with proxy_client(app) as c:
                r = await c.post("/v1/chat/completions", json=chat(), headers={"X-Account-Id": "a"})
            await guard.aclose()
            return r, guard

        r, guard = asyncio.run(run())
    finally:
        hole.close()
    if mode == "open":
        assert (
            r.status_code == 200
            and r.json()["choices"][0]["message"]["content"] == "The answer is 4."
        )
        assert guard.metrics.value("distillguard_fail_open_total", reason="timeout") == 1
        assert "distillguard_fail_open_total" in guard.metrics.render()
    else:
        assert r.status_code == 403
        assert guard.metrics.value("distillguard_fail_closed_total", reason="timeout") == 1


def test_scorer_down_keeps_the_gateway_serving() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def run() -> httpx.Response:
        guard = RemoteGuard(dead, "tok", timeout_ms=200)
        app = create_proxy("http://upstream", guard, transport=UPSTREAM)
        async with proxy_client(app) as c:
            r = await c.post("/v1/chat/completions", json=chat(), headers={"X-Account-Id": "a"})
        assert guard.metrics.value("distillguard_fail_open_total", reason="ConnectError") == 1
        await guard.aclose()
        return r

    assert asyncio.run(run()).status_code == 200
