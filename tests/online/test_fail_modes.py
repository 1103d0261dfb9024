"""Fail-mode semantics (issue 13, item 1): a scorer that cannot decide is a failure that
``fail_mode`` decides, whatever the reason; a known block is applied before any size or parse
check; an oversized prompt is scored on its head and tail, never refused into an allow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillguard.online.guard import LocalGuard, RemoteGuard
from distillguard.online.normalize import TRUNCATION_MARK, bound_record
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST

Rec = Callable[..., dict[str, Any]]
RULES = [
    {
        "name": "bad-cluster",
        "when": {"cluster_verdict": "attack"},
        "action": "block",
        "scope": "cluster",
    },
]
PAD = "lorem ipsum dolor sit amet " * 12_000  # ~320 kB: over the default 262,144 bytes


@pytest.fixture
def scorer(store_dir: Path, write_policy: Callable) -> OnlineScorer:
    return OnlineScorer(store_dir, write_policy({"rules": RULES}))


def test_bound_record_keeps_head_and_tail_under_the_budget(record: Rec) -> None:
    rec = record(0, text="HEAD " + PAD + " TAIL")
    cut, was_cut = bound_record(rec, 8192)
    text = cut["messages"][0]["content"]
    assert was_cut and len(text) < 8192 and TRUNCATION_MARK in text
    assert text.startswith("HEAD ") and text.endswith(" TAIL")
    assert bound_record(record(1), 8192) == (record(1), False)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_padded_prompt_does_not_lift_a_block(
    scorer: OnlineScorer, serve: Callable, record: Rec, mode: str
) -> None:
    with serve(create_app(scorer, "tok")) as srv:

        async def run() -> dict[str, Any]:
            guard = RemoteGuard(srv.url, "tok", timeout_ms=5000, fail_mode=mode)
            d = await guard.check(record(0, account="hydra-1", text=PAD))
            await guard.aclose()
            return d

        d = asyncio.run(run())
    assert d["action"] == "block" and d["source"] != f"fail_{mode}"


def test_the_service_scores_an_oversized_record_instead_of_refusing_it(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    with serve(create_app(scorer, "tok")) as srv:
        h = {"Authorization": "Bearer tok"}
        r = httpx.post(f"{srv.url}/v1/score", json=record(0, "good-1", text=PAD), headers=h)
        assert r.status_code == 200 and r.json()["action"] == "allow"
        r = httpx.post(f"{srv.url}/v1/score", json=record(0, "hydra-2", text=PAD), headers=h)
        assert r.status_code == 200 and r.json()["action"] == "block"
        # Beyond OVERSIZE_FACTOR times the limit it is refused, as a JSON error.
        huge = record(0, "hydra-2", text="x" * (262144 * 9))
        r = httpx.post(f"{srv.url}/v1/score", json=huge, headers=h)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_a_bad_record_of_a_blocked_account_is_still_blocked(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    with serve(create_app(scorer, "tok")) as srv:
        h = {"Authorization": "Bearer tok", "X-Account-Id": "hydra-1"}
        bad = record(0, "hydra-1", ts="yesterday")
        r = httpx.post(f"{srv.url}/v1/score", json=bad, headers=h)
        assert r.status_code == 200 and r.json()["action"] == "block"
        # /v1/check: an unreadable body does not lift it either
        r = httpx.post(f"{srv.url}/v1/check", content=b"{not json", headers=h)
        assert r.status_code == 403 and r.headers["x-distillguard-action"] == "block"
        # while a bad record of an unknown account is still a 422 naming the field
        r = httpx.post(f"{srv.url}/v1/score", json=record(0, "new-1", ts="yesterday"), headers=h)
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("ts:")


@pytest.mark.parametrize(("mode", "expected"), [("open", "allow"), ("closed", "block")])
def test_a_refused_record_is_a_scorer_failure(
    scorer: OnlineScorer, serve: Callable, record: Rec, mode: str, expected: str
) -> None:
    with serve(create_app(scorer, "tok")) as srv:

        async def run() -> tuple[dict[str, Any], RemoteGuard]:
            guard = RemoteGuard(srv.url, "tok", timeout_ms=5000, fail_mode=mode)
            d = await guard.check(record(0, "new-1", ts="yesterday"))
            await guard.aclose()
            return d, guard

        d, guard = asyncio.run(run())
    assert d["action"] == expected and d["source"] == f"fail_{mode}"
    assert guard.metrics.value(f"distillguard_fail_{mode}_total", reason="HTTP 422") == 1


def test_a_wrong_token_fails_per_fail_mode(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    with serve(create_app(scorer, "tok")) as srv:

        async def run(mode: str) -> str:
            guard = RemoteGuard(srv.url, "wrong", timeout_ms=5000, fail_mode=mode)
            d = await guard.check(record(0, "good-1"))
            await guard.aclose()
            return d["action"]

        assert asyncio.run(run("closed")) == "block"
        assert asyncio.run(run("open")) == "allow"


def test_remote_guard_applies_a_known_block_before_anything_else(
    scorer: OnlineScorer, serve: Callable, record: Rec
) -> None:
    with serve(create_app(scorer, "tok")) as srv:

        async def run() -> list[dict[str, Any]]:
            guard = RemoteGuard(srv.url, "tok", timeout_ms=5000, fail_mode="open")
            first = await guard.check(record(0, "hydra-1"))
            srv.server.should_exit = True  # the scorer goes away
            srv.thread.join(10)
            broken = {"account_id": "hydra-1", "request_id": "x", "messages": "?" * 10**6}
            second = await guard.check(broken)
            other = await guard.check(record(1, "good-1"))
            await guard.aclose()
            return [first, second, other]

        first, second, other = asyncio.run(run())
    assert first["action"] == "block" and first["scope"] == "cluster"
    assert second["action"] == "block" and second["source"] == "known"
    assert other["action"] == "allow" and other["source"] == "fail_open"


def test_local_guard_never_turns_a_bad_record_into_an_allow(
    store_dir: Path, write_policy: Callable, record: Rec
) -> None:
    scorer = OnlineScorer(store_dir, write_policy({"rules": RULES, "fail_mode": "closed"}))
    guard = LocalGuard(scorer)
    blocked = asyncio.run(guard.check(record(0, "hydra-1", messages=[])))
    assert blocked["action"] == "block" and blocked["source"] == "precheck"
    unknown = asyncio.run(guard.check(record(0, "new-1", messages=[])))
    assert unknown["action"] == "block" and unknown["source"] == "fail_closed"
    ok = asyncio.run(guard.check(record(0, "good-1", text=HARVEST)))
    assert ok["action"] == "allow"
    scorer.close()
