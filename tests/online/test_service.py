"""The FastAPI service over real HTTP on loopback: auth, limits, scoring, events, metrics, admin,
Redis-shared state between two instances, fail-open / fail-closed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from distillguard.errors import InvalidInputError
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST

API, ADMIN = "api-secret", "admin-secret"
H = {"Authorization": f"Bearer {API}"}
HA = {"Authorization": f"Bearer {ADMIN}"}
Rec = Callable[..., dict[str, Any]]


@pytest.fixture
def scorer(store_dir: Path, write_policy: Callable) -> OnlineScorer:
    return OnlineScorer(
        store_dir,
        write_policy(
            {
                "max_body_bytes": 4096,
                "max_batch_events": 10,
                "rules": [
                    {
                        "name": "bad-cluster",
                        "when": {"cluster_verdict": "attack"},
                        "action": "block",
                        "scope": "cluster",
                    },
                    {"name": "harvest", "when": {"sig_cot": {">=": 0.5}}, "action": "degrade"},
                ],
            }
        ),
    )


def test_token_is_required(scorer: OnlineScorer) -> None:
    with pytest.raises(InvalidInputError, match="needs a token"):
        create_app(scorer, "")


def test_service_end_to_end(scorer: OnlineScorer, serve: Callable, record: Rec) -> None:
    with (
        serve(create_app(scorer, API, ADMIN)) as srv,
        httpx.Client(base_url=srv.url, timeout=10) as c,
    ):
        # healthz needs no token; everything else does
        assert c.get("/healthz").json()["results"]["accounts"] == 4
        assert c.post("/v1/score", json=record()).status_code == 401
        r = c.post("/v1/score", json=record(), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.get("/metrics").status_code == 401

        # a known cluster member is recognised at once, in the fast path
        r = c.post("/v1/score", json=record(0, account="hydra-1"), headers=H)
        body = r.json()
        assert r.status_code == 200
        assert {"risk", "action", "reasons", "account_risk", "cluster_id"} <= set(body)
        assert (body["action"], body["cluster_id"]) == ("block", "c-7")
        # full scoring with the request's own signals (?sync=true)
        r = c.post("/v1/score?sync=true", json=record(1, account="new-1", text=HARVEST), headers=H)
        assert r.json()["action"] == "degrade" and r.json()["source"] == "score"
        assert (
            c.post("/v1/score", json=record(2, account="good-1"), headers=H).json()["action"]
            == "allow"
        )

        # validation: 422 names the field, 400 for broken JSON, 413 over the size limit
        bad = record()
        del bad["account_id"]
        r = c.post("/v1/score", json=bad, headers=H)
        assert (
            r.status_code == 422
            and "account_id: required field is missing" in r.json()["error"]["message"]
        )
        r = c.post("/v1/score", json={**record(), "ts": "yesterday"}, headers=H)
        assert r.status_code == 422 and "ts:" in r.json()["error"]["message"]
        r = c.post("/v1/score", json={**record(), "max_tokens": "lots"}, headers=H)
        assert (
            r.status_code == 422 and "max_tokens: must be a number" in r.json()["error"]["message"]
        )
        r = c.post(
            "/v1/score", content=b"{not json", headers={**H, "content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        # over max_body_bytes: scored on head and tail; over 8 times that: refused
        r = c.post("/v1/score", json=record(text="x" * 5000), headers=H)
        assert r.status_code == 200 and r.json()["action"] == "allow"
        r = c.post("/v1/score", json=record(text="x" * 40000), headers=H)
        assert r.status_code == 413

        # events in batches, validated and bounded
        evs = [
            {
                "account_id": "good-1",
                "request_id": f"r{i}",
                "input_tokens": 10,
                "output_tokens": 400,
                "status": 200,
            }
            for i in range(5)
        ]
        assert c.post("/v1/events", json={"events": evs}, headers=H).json() == {"accepted": 5}
        r = c.post("/v1/events", json=[{"account_id": "a", "output_tokens": -1}], headers=H)
        assert r.status_code == 422 and "output_tokens" in r.json()["error"]["message"]
        assert c.post("/v1/events", json=evs * 3, headers=H).status_code == 413

        # the plain HTTP contract: status codes a gateway can act on
        r = c.post("/v1/check", headers={**H, "X-Account-Id": "hydra-2"})
        assert r.status_code == 403 and r.headers["X-Distillguard-Action"] == "block"
        r = c.post("/v1/check", headers={**H, "X-Account-Id": "good-1"})
        assert r.status_code == 200 and r.headers["X-Distillguard-Action"] == "allow"
        r = c.post("/v1/check", headers=H)
        assert r.status_code == 422

        # admin endpoints: 401 without a token, 403 with the API token
        assert c.post("/v1/admin/policy/reload").status_code == 401
        assert c.post("/v1/admin/policy/reload", headers=H).status_code == 403
        r = c.post(
            "/v1/admin/appeal", json={"account_id": "hydra-1", "reason": "verified"}, headers=HA
        )
        assert r.status_code == 200 and r.json()["allow_action_id"]
        assert (
            c.post("/v1/score", json=record(5, account="hydra-1"), headers=H).json()["action"]
            == "allow"
        )
        r = c.post(
            "/v1/admin/actions",
            json={
                "subject_kind": "account",
                "subject_id": "good-1",
                "action": "suspend",
                "reason": "analyst",
            },
            headers=HA,
        )
        assert r.status_code == 200
        assert (
            c.post("/v1/score", json=record(6, account="good-1"), headers=H).json()["action"]
            == "block"
        )
        r = c.post("/v1/admin/actions", json={"subject_id": "x", "action": "explode"}, headers=HA)
        assert r.status_code == 422
        assert c.get("/v1/admin/audit/verify", headers=HA).json()["ok"] is True
        assert c.post("/v1/admin/results/reload", headers=HA).json()["results"]["clusters"] == 1

        # metrics in Prometheus text format
        m = c.get("/metrics", headers=H).text
        assert "# TYPE distillguard_score_seconds histogram" in m
        assert 'distillguard_actions_total{action="block",scope="cluster",shadow="false"}' in m
        assert "distillguard_state_accounts " in m and "distillguard_http_seconds_bucket" in m


def test_policy_reload_over_the_api_keeps_a_good_policy(
    store_dir: Path, write_policy: Callable, serve: Callable
) -> None:
    path = write_policy({"rules": []})
    s = OnlineScorer(store_dir, path)
    with serve(create_app(s, API, ADMIN)) as srv, httpx.Client(base_url=srv.url) as c:
        v0 = c.get("/healthz").json()["policy_version"]
        path.write_text("online: {fail_mode: sometimes}\n")
        r = c.post("/v1/admin/policy/reload", headers=HA)
        assert r.status_code == 422 and "keeping version " + v0 in r.json()["message"]
        assert c.get("/healthz").json()["policy_version"] == v0
        path.write_text(yaml.safe_dump({"online": {"shadow": True}}))
        r = c.post("/v1/admin/policy/reload", headers=HA)
        assert r.status_code == 200 and r.json()["policy_version"] != v0
        assert c.get("/healthz").json()["shadow"] is True
        entries = [e["action"] for e in s.audit.entries()]
        assert entries[-2:] == ["policy_reload_rejected", "policy_reload"]


@pytest.mark.redis
def test_two_instances_share_state_through_redis(
    tmp_path: Path, write_policy: Callable, redis_url: str, record: Rec, serve: Callable
) -> None:
    pol = write_policy(
        {
            "rules": [
                {
                    "name": "busy",
                    "when": {"n_total": {">=": 6}},
                    "action": "challenge",
                    "scope": "request",
                }
            ]
        }
    )
    a = OnlineScorer(tmp_path / "a", pol, state=redis_url)
    b = OnlineScorer(tmp_path / "b", pol, state=redis_url)
    with (
        serve(create_app(a, API)) as sa,
        serve(create_app(b, API)) as sb,
        httpx.Client(timeout=10) as c,
    ):
        seen = []
        for i in range(8):  # alternate replicas: each sees only half the traffic itself
            url = (sa if i % 2 == 0 else sb).url
            seen.append(
                c.post(
                    f"{url}/v1/score?sync=true", json=record(i, account="shared"), headers=H
                ).json()
            )
        assert [d["action"] for d in seen] == ["allow"] * 5 + ["challenge"] * 3
        fa = a.state.peek("shared", 1_767_225_700_000)
        fb = b.state.peek("shared", 1_767_225_700_000)
        assert fa == fb and fa["n_total"] == 8


@pytest.mark.redis
def test_fail_open_and_fail_closed_when_state_is_down(
    tmp_path: Path, write_policy: Callable, redis_url: str, record: Rec, serve: Callable
) -> None:
    import redis

    s_open = OnlineScorer(tmp_path / "o", write_policy({}, "open.yaml"), state=redis_url)
    s_closed = OnlineScorer(
        tmp_path / "c", write_policy({"fail_mode": "closed"}, "closed.yaml"), state=redis_url
    )
    redis.Redis.from_url(redis_url).shutdown(nosave=True)  # the state backend dies
    with (
        serve(create_app(s_open, API)) as so,
        serve(create_app(s_closed, API)) as sc,
        httpx.Client(timeout=10) as c,
    ):
        r = c.post(f"{so.url}/v1/score?sync=true", json=record(), headers=H)
        assert (
            r.status_code == 200
            and r.json()["source"] == "fail_open"
            and r.json()["action"] == "allow"
        )
        assert "distillguard_fail_open_total" in c.get(f"{so.url}/metrics", headers=H).text
        r = c.post(f"{sc.url}/v1/score?sync=true", json=record(), headers=H)
        assert r.status_code == 503 and "fail-closed" in r.json()["error"]["message"]


def test_serve_cli_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app
    from distillguard.errors import InvalidParameterError

    monkeypatch.delenv("DISTILLGUARD_API_TOKEN", raising=False)
    res = CliRunner().invoke(app, ["serve", "--data", str(tmp_path)])
    assert isinstance(res.exception, InvalidParameterError) and "needs a token" in str(
        res.exception
    )


def test_serve_workers_need_shared_state(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app
    from distillguard.errors import InvalidParameterError

    res = CliRunner().invoke(
        app, ["serve", "--data", str(tmp_path), "--token", API, "--workers", "2"]
    )
    assert isinstance(res.exception, InvalidParameterError) and "redis://" in str(res.exception)


def test_serve_workers_share_one_redis_state(store_dir: Path, redis_url: str, record: Rec) -> None:
    import subprocess
    import sys
    import time

    from .conftest import free_port

    port, exe = free_port(), Path(sys.executable).parent / "distillguard"
    policy = store_dir / "enforce.yaml"
    subprocess.run([str(exe), "policy", "init", str(policy), "--enforce"], check=True)
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--port",
            str(port),
            "--data",
            str(store_dir),
            "--policy",
            str(policy),
            "--state",
            redis_url,
            "--workers",
            "2",
        ],
        env={"DISTILLGUARD_API_TOKEN": API, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as c:
            deadline = time.time() + 90
            while True:
                try:
                    if c.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    assert time.time() < deadline, "serve --workers 2 did not start"
                    time.sleep(0.2)
            # New connections are spread over both workers: each loaded the batch results ...
            for i in range(8):
                with httpx.Client(timeout=10) as fresh:
                    r = fresh.post(f"{url}/v1/score", json=record(i, account="hydra-1"), headers=H)
                    assert r.status_code == 200 and r.json()["action"] == "block"
            for i, acct in enumerate(("w-a", "w-b", "w-c")):
                c.post(f"{url}/v1/score", json=record(100 + i, account=acct), headers=H)

            # ... and both count the same accounts: the state is Redis's, not a worker's
            # (with a memory state each worker would count only the accounts it was sent).
            def counts(n: int) -> list[str]:
                out = []
                for _ in range(n):
                    with httpx.Client(timeout=10) as fresh:
                        m = fresh.get(f"{url}/metrics", headers=H).text
                    out += [
                        x for x in m.splitlines() if x.startswith("distillguard_state_accounts")
                    ]
                return out

            for _ in range(150):  # the featurizer processes learn in the background
                if counts(1) == ["distillguard_state_accounts 4.0"]:
                    break
                time.sleep(0.1)
            assert set(counts(12)) == {"distillguard_state_accounts 4.0"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_command_runs_a_real_server(store_dir: Path, record: Rec) -> None:
    import subprocess
    import sys
    import time

    from .conftest import free_port

    port = free_port()
    exe = Path(sys.executable).parent / "distillguard"
    # The shipped policy starts in shadow mode; this server enforces, as after a rollout.
    policy = store_dir / "enforce.yaml"
    subprocess.run([str(exe), "policy", "init", str(policy), "--enforce"], check=True)
    env = {
        "DISTILLGUARD_API_TOKEN": API,
        "DISTILLGUARD_ADMIN_TOKEN": ADMIN,
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--data", str(store_dir), "--policy", str(policy)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.time() < deadline, "serve did not start"
                time.sleep(0.2)
        r = httpx.post(f"{url}/v1/score", json=record(0, account="hydra-1"), headers=H)
        assert (
            r.status_code == 200 and r.json()["action"] == "block"
        )  # enforcing policy, known cluster
        r = httpx.post(
            f"{url}/v1/admin/appeal", json={"account_id": "hydra-1", "reason": "ok"}, headers=HA
        )
        assert r.status_code == 200
        # the fast path queued the request; the featurizer process learned it
        for _ in range(150):
            m = httpx.get(f"{url}/metrics", headers=H).text
            if "distillguard_state_accounts 1" in m:
                break
            time.sleep(0.1)
        assert "distillguard_state_accounts 1" in m
    finally:
        proc.terminate()
        proc.wait(timeout=20)
