"""The contract ships in the repository: docs/CONTRACT.md and a JSON Schema generated from
``contract.py`` that must match it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from distillguard import contract

DOCS = Path(__file__).resolve().parents[1] / "docs"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "spec" / "CONTRACT.md"


def test_committed_schema_is_the_generated_one():
    committed = json.loads((DOCS / "request.schema.json").read_text())
    assert committed == contract.request_json_schema(), (
        "regenerate: python -m distillguard.contract > docs/request.schema.json"
    )


def test_schema_is_valid_and_matches_the_field_lists():
    schema = contract.request_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == list(contract.REQUIRED_REQUEST_FIELDS)
    assert set(schema["properties"]) == set(contract.REQUIRED_REQUEST_FIELDS) | set(
        contract.OPTIONAL_REQUEST_FIELDS
    )


GOOD = [
    {"request_id": "r", "ts": 1_714_564_800_000, "account_id": "a", "model": "m",
     "messages": [{"role": "user", "content": "hi"}], "tools": ["search"], "stream": True},
    {"request_id": "r", "ts": "2024-05-01 12:00:00", "account_id": "a", "model": "m",
     "messages": '[{"role": "user", "content": "hi"}]', "unknown_field": {"kept": 1}},
    {"request_id": "r", "ts": 1_714_564_800, "account_id": "a", "model": "m",
     "messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]},
]
BAD = [
    {"ts": 1, "account_id": "a", "model": "m", "messages": []},  # no request_id
    {"request_id": "r", "ts": 1, "account_id": "a", "model": "m", "messages": [],
     "max_tokens": "many"},
    {"request_id": "r", "ts": 1, "account_id": "a", "model": "m",
     "messages": [{"content": "no role"}]},
]


@pytest.mark.parametrize("record", GOOD)
def test_records_ingest_accepts_validate(record):
    jsonschema.validate(record, contract.request_json_schema())


@pytest.mark.parametrize("record", BAD)
def test_records_ingest_rejects_do_not_validate(record):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, contract.request_json_schema())


def test_contract_doc_names_every_field_and_keeps_the_shared_text():
    doc = (DOCS / "CONTRACT.md").read_text()
    for name in (*contract.REQUIRED_REQUEST_FIELDS, *contract.OPTIONAL_REQUEST_FIELDS,
                 *contract.ACCOUNT_FIELDS, *contract.OUTPUT_ACCOUNT_COLUMNS):
        assert f"`{name}`" in doc, name
    if SHARED.is_file():  # the repo copy extends the shared spec, never rewrites it
        assert doc.startswith(SHARED.read_text().rstrip("\n"))
