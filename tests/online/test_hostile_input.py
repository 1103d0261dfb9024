"""Hostile input on the scoring service (issue 13, item 2): deep nesting, lone surrogates,
invalid UTF-8, non-finite and oversized numbers get a 4xx JSON error before any state
changes, every error is counted, and the OpenAPI document is served behind the admin token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

API, ADMIN = "api-secret", "admin-secret"
H = {"Authorization": f"Bearer {API}", "content-type": "application/json"}
Rec = Callable[..., dict[str, Any]]
DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture
def scorer(store_dir: Path) -> Iterator[OnlineScorer]:
    s = OnlineScorer(store_dir)
    yield s
    s.close()


@pytest.fixture
def client(scorer: OnlineScorer, serve: Callable) -> Iterator[httpx.Client]:
    with serve(create_app(scorer, API, ADMIN)) as srv, httpx.Client(base_url=srv.url) as c:
        yield c


def errors(scorer: OnlineScorer, code: int) -> float:
    return scorer.metrics.value("distillguard_http_errors_total", code=str(code))


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/v1/score", {}), ("/v1/check", {"X-Account-Id": "good-1"}), ("/v1/events", {})],
)
def test_deep_nesting_is_a_counted_400(
    scorer: OnlineScorer, client: httpx.Client, path: str, headers: dict
) -> None:
    r = client.post(path, content=DEEP, headers={**H, **headers})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_deep"
    assert errors(scorer, 400) == 1


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'"\\ud800"', "invalid_utf8"),  # a lone surrogate, as a JSON escape
        (b'"\xff\xfe"', "invalid_utf8"),  # bytes that are not UTF-8
        (b"NaN", "invalid_number"),
        (b"1e999", "invalid_number"),
        (b"9" * 5000, "invalid_json"),
        (b"12345678901234567890", "invalid_number"),
    ],
)
def test_bad_values_are_refused_before_the_state_changes(
    scorer: OnlineScorer, client: httpx.Client, record: Rec, raw: bytes, code: str
) -> None:
    body = (
        b'{"request_id":"r1","ts":1767225600000,"account_id":'
        + raw
        + b',"model":"m","messages":[{"role":"user","content":"hi"}]}'
    )
    r = client.post("/v1/score?sync=true", content=body, headers=H)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert scorer.state.n_accounts() == 0 and errors(scorer, 400) == 1
    # the same in a message's text and in an event
    text = body.replace(b'"content":"hi"', b'"content":' + raw).replace(raw + b",", b'"a1",', 1)
    assert client.post("/v1/score?sync=true", content=text, headers=H).status_code == 400
    event = b'[{"account_id":"a1","input_tokens":' + raw + b"}]"
    assert client.post("/v1/events", content=event, headers=H).status_code == 400
    assert scorer.state.n_accounts() == 0 and errors(scorer, 400) == 3


def test_numbers_out_of_bounds_and_bad_parameters_are_json_4xx(
    scorer: OnlineScorer, client: httpx.Client, record: Rec
) -> None:
    r = client.post("/v1/events", json=[{"account_id": "a", "output_tokens": 10**12}], headers=H)
    assert r.status_code == 422 and "output_tokens" in r.json()["error"]["message"]
    r = client.post("/v1/score?sync=maybe", json=record(), headers=H)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
    r = client.get("/v1/nowhere", headers=H)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert errors(scorer, 422) == errors(scorer, 400) == errors(scorer, 404) == 1
    text = client.get("/metrics", headers=H).text
    assert 'distillguard_http_errors_total{code="404"} 1.0' in text
    # the exposition is produced by prometheus-client and parses back
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"distillguard_http_errors", "distillguard_state_accounts"} <= names


def test_a_token_with_non_ascii_bytes_is_a_401(scorer: OnlineScorer, client: httpx.Client) -> None:
    r = client.post("/v1/score", content=b"{}", headers=[(b"authorization", b"Bearer \xff\xfe")])
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = client.get("/openapi.json", headers=[(b"x-api-key", b"\xe9t\xe9")])
    assert r.status_code == 401 and errors(scorer, 401) == 2


def test_openapi_and_docs_need_the_admin_token(client: httpx.Client) -> None:
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/openapi.json", headers=H).status_code == 403
    doc = client.get("/openapi.json", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    body = doc["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]
    assert "account_id" in body["schema"]["required"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert client.get("/docs", headers=H).status_code == 403
    page = client.get("/docs", headers={"Authorization": f"Bearer {ADMIN}"})
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text and "/v1/score" in page.text
