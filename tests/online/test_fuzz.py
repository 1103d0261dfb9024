"""Property-based fuzzing of the scoring service from its own OpenAPI document: no input, valid
by the schema or not, gets a 5xx, and every answer is JSON (issue 13, item 2).

Bodies come from the request-body schemas in ``/openapi.json`` (``from_schema`` below covers
the JSON Schema subset those use; hypothesis-jsonschema 0.23 does not run on current
Hypothesis), mixed with arbitrary JSON and raw bytes; each endpoint gets a fixed number of examples so the
whole module stays well under a minute on two cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.online.scorer import OnlineScorer
from distillguard.online.service import create_app

from .conftest import make_store

API, ADMIN = "api-secret", "admin-secret"
HEADERS = {
    "Authorization": f"Bearer {ADMIN}",
    "X-Account-Id": "fuzz-1",
    "content-type": "application/json",
}
EXAMPLES = 150

# Text with every code point, lone surrogates included (json.dumps writes them as \udXXX).
any_text = st.text(st.characters(blacklist_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    scorer = OnlineScorer(make_store(tmp_path_factory.mktemp("fuzz") / "data"))
    app = create_app(scorer, API, ADMIN, watch_interval_s=3600)
    # raise_server_exceptions=False: a crash must show up as the 500 a client would see.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    scorer.close()


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for a JSON Schema (type, enum, oneOf, properties, required, items, minimum)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([from_schema(s) for s in schema["oneOf"]])
    kinds = schema.get("type", ["string", "integer", "number", "boolean", "null"])
    if isinstance(kinds, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kinds])
    if kinds == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kinds == "array":
        items = from_schema(schema.get("items", {}))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=4)
    if kinds == "string":
        return st.text(
            st.characters(blacklist_categories=()), min_size=schema.get("minLength", 0), max_size=40
        )
    if kinds == "integer":
        return st.integers(min_value=schema.get("minimum"))
    if kinds == "number":
        return st.floats(min_value=schema.get("minimum"), allow_nan=False) | st.integers()
    if kinds == "boolean":
        return st.booleans()
    return st.none()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            content = (op.get("requestBody") or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            out.append((method.upper(), path, schema))
    return out


def _bodies(schema: dict[str, Any] | None) -> st.SearchStrategy[bytes]:
    raw = st.binary(max_size=64) | st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
    anything = json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    if schema is None:
        return st.one_of(st.just(b""), anything, raw)
    valid = from_schema(schema).map(lambda v: json.dumps(v, allow_nan=True).encode())
    return st.one_of(valid, valid, anything, raw)


def probe(client: TestClient, method: str, path: str, schema: dict[str, Any] | None) -> None:
    """Send ``EXAMPLES`` generated bodies to one operation; none may get a 5xx or non-JSON."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_bodies(schema))
    def run(body: bytes) -> None:
        r = client.request(method, path, content=body, headers=HEADERS)
        assert r.status_code < 500, (method, path, body[:200], r.text[:300])
        if r.status_code != 204 and path != "/metrics":
            r.json()  # every answer, error or not, is JSON

    run()


def test_no_input_gives_a_5xx(client: TestClient) -> None:
    doc = client.get("/openapi.json", headers=HEADERS).json()
    ops = operations(doc)
    assert {p for _, p, _ in ops} >= {"/v1/score", "/v1/check", "/v1/events", "/v1/admin/appeal"}
    for method, path, schema in ops:
        if path.endswith("/reload"):
            continue  # reloads read files, not the request: nothing to fuzz
        probe(client, method, path, schema)


header_bytes = st.binary(max_size=24).filter(lambda b: not set(b) & {0, 10, 13})


@settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(token=header_bytes, account=header_bytes, request_id=header_bytes)
def test_no_header_gives_a_5xx(
    client: TestClient, token: bytes, account: bytes, request_id: bytes
) -> None:
    """Tokens, account and request ids with any bytes (a non-ASCII token was a 500)."""
    for auth in (token, b"Bearer " + token, b"Bearer " + ADMIN.encode()):
        headers = [
            (b"authorization", auth),
            (b"x-account-id", account),
            (b"x-request-id", request_id),
            (b"x-api-key", token),
        ]
        r = client.post("/v1/check", content=b"", headers=headers)
        assert r.status_code < 500, (headers, r.text[:300])
        r = client.post("/v1/score", content=b"{}", headers=headers)
        assert r.status_code < 500, (headers, r.text[:300])
