"""The raw ``POST /v1/score`` route answers exactly as the FastAPI route it stands in front of,
and the orjson fast paths of strict JSON give exactly the stdlib's values and refusals."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from distillguard.online import service, strict_json
from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import HARVEST, make_store

API = "api-secret"
H = {"Authorization": f"Bearer {API}", "content-type": "application/json"}


def _bodies(record: Callable[..., dict[str, Any]]) -> list[tuple[bytes, dict[str, str]]]:
    """Records that are allowed, blocked, truncated or refused, and hostile bodies."""
    good = [
        record(i, account=a, text=HARVEST if i % 2 else None)
        for i, a in enumerate(["good-1", "hydra-1", "hydra-2", "rev-1", "acct-9", "acct-9"])
    ]
    bodies = [(json.dumps(r).encode(), H) for r in good]
    bodies += [(json.dumps(record(7, text="p" * 300_000)).encode(), H)]  # cut to head and tail
    bodies += [
        (b, H)
        for b in (
            b"",
            b"{",
            b"[]",
            b"[" * 100 + b"]" * 100,
            b'{"a": NaN}',
            b'{"a": 1e999}',
            b'{"a": 123456789012345678901234567890, "b": 9007199254740993}',
            b'{"a": "\\ud800"}',
            b"\xff\xfe",
            b'{"request_id": "r", "account_id": "hydra-1"}',  # invalid, but a known block
            json.dumps({**record(8), "ts": 5}).encode(),
        )
    ]
    bodies += [(json.dumps(record(9)).encode(), {"Authorization": "Bearer nope"}), (b"{}", {})]
    return bodies


@pytest.fixture
def two_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Two scorers on equal stores (the same linkage secret): one answers each route."""
    monkeypatch.setenv("DISTILLGUARD_LINKAGE_SECRET", "test")
    scorers = [OnlineScorer(make_store(tmp_path / f"d{k}")) for k in range(2)]
    for s in scorers:
        s.event_time = True
    yield [(s, TestClient(create_app(s, API))) for s in scorers]
    for s in scorers:
        s.close()


def test_raw_route_answers_like_the_fastapi_route(
    two_apps: list[Any], record: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fastapi_reads: list[int] = []
    real_read = service._Service.read_record

    async def counted(self: Any, request: Any) -> Any:
        fastapi_reads.append(1)
        return await real_read(self, request)

    monkeypatch.setattr(service._Service, "read_record", counted)
    (raw_scorer, raw), (fa_scorer, fa) = two_apps
    for body, headers in _bodies(record):
        # "sync=no" is False to FastAPI's bool parsing, but not a query the raw route takes
        n = len(fastapi_reads)
        a = raw.post("/v1/score", content=body, headers=headers)
        assert len(fastapi_reads) == n  # the raw route answered, not FastAPI's
        b = fa.post("/v1/score?sync=no", content=body, headers=headers)
        assert (a.status_code, a.content) == (b.status_code, b.content), body[:80]
        for s in (raw_scorer, fa_scorer):
            if s._learner is not None:
                s._learner.wait_idle()
    assert len(fastapi_reads) > 0  # and FastAPI's answered the other query
    statuses = {raw.post("/v1/score", content=b, headers=h).status_code for b, h in _bodies(record)}
    assert {200, 400, 401, 422} <= statuses
    for code in ("400", "401", "422"):
        m = "distillguard_http_errors_total"
        assert raw_scorer.metrics.value(m, code=code) > 0
    # the same bad query parameter answer as before: FastAPI still validates it
    r = raw.post("/v1/score?sync=maybe", json=record(1), headers=H)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
    assert raw.get("/v1/score", headers=H).status_code == 405


def _random_json(r: random.Random, depth: int = 0) -> str:
    atoms = ['1', '"x"', '"\\ud800"', "1e999", "9007199254740993", "1" * 30, "2.5", "true",
             "null", '"\\u00e9"', "NaN", "-0", "1e30", '"\u00e9"', str(2**64), "-1e19"]
    if depth > 36 or r.random() < 0.3:
        return r.choice(atoms)
    if r.random() < 0.5:
        return "[" + ",".join(_random_json(r, depth + 1) for _ in range(r.randint(0, 3))) + "]"
    keys = [f'"k{i}' + ("\\udc00" if r.random() < 0.05 else "") + '"' for i in range(r.randint(0, 3))]
    return "{" + ",".join(k + ":" + _random_json(r, depth + 1) for k in keys) + "}"


def _outcome(fn: Callable[[bytes], Any], body: bytes) -> tuple:
    try:
        return ("ok", repr(fn(body)))
    except strict_json.JSONRejected as exc:
        return (exc.code, str(exc))


def test_orjson_parse_gives_the_stdlib_values_and_refusals() -> None:
    r = random.Random(7)
    stdlib = lambda b: strict_json._loads_stdlib(b, strict_json.MAX_DEPTH)  # noqa: E731
    refused = 0
    for _ in range(3000):
        body = _random_json(r).encode("utf-8", "surrogatepass")
        if r.random() < 0.03:
            body = body[:-1]
        expected = _outcome(stdlib, body)
        refused += expected[0] != "ok"
        assert _outcome(strict_json.loads_strict, body) == expected, body[:120]
    assert 300 < refused < 2700  # both kinds were exercised


def test_orjson_dump_gives_the_bytes_of_a_json_response() -> None:
    r = random.Random(11)
    values: list[Any] = [1e-05, 1e16, 5e15, -0.0, 0.0001, 2**70, "é\x01\u2028\"\\/", None, True]
    values += [10 ** r.uniform(-6, 18) * r.choice((1, -1)) for _ in range(2000)]
    for v in values:
        content = {"risk": v, "reasons": [v, "x"], "params": {"p": v}}
        expected = json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")
        assert strict_json.dumps_response(content) == expected
    with pytest.raises(ValueError):
        strict_json.dumps_response({"risk": float("nan")})  # as JSONResponse: a 500, not null
