"""The format table: every mapping targets contract fields, cites its source, and each
format's real record is recognised as that format and no other."""

from __future__ import annotations

import json
import pathlib

import pytest
from gateway_samples import BUILDERS, otlp_document, rec_for_tests

from distillguard import contract
from distillguard.ingest import formats

CONTRACT_FIELDS = set(contract.REQUIRED_REQUEST_FIELDS) | set(contract.OPTIONAL_REQUEST_FIELDS)


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda f: f.name)
def test_mappings_target_contract_fields_and_cite_a_source(fmt):
    assert set(fmt.fields) <= CONTRACT_FIELDS
    assert fmt.source and fmt.detect
    for paths in fmt.fields.values():
        for path in paths:
            for t in path.split("|")[1:]:
                assert t in formats.TRANSFORMS, path


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_native_record_is_detected_as_its_format(name):
    native, _ = BUILDERS[name](rec_for_tests())
    if name == "openai_batch":
        native = native[0]
    if name == "otel_genai":
        native = otlp_document([native])
    assert formats.detect(native).name == name


def test_contract_record_is_the_contract():
    assert formats.detect(rec_for_tests()).name == "contract"
    assert formats.detect({"something": "else"}).name == "contract"  # validation reports it


def test_paths_walk_json_text_lists_and_transforms():
    rec = {"a": json.dumps({"b": [{"c": "x"}, {"c": "y"}]}), "n": "42", "s": "hi",
           "tools": [{"type": "function", "function": {"name": "search"}}, {"name": "calc"}]}
    assert formats.get_path(rec, "a/b/1/c") == "y"
    assert formats.get_path(rec, "n|int") == 42
    assert formats.get_path(rec, "s|user") == [{"role": "user", "content": "hi"}]
    assert formats.get_path(rec, "tools|names") == ["search", "calc"]
    assert formats.get_path(rec, "a/b/9/c") is formats._MISSING
    assert formats.has_path({"api_key": None}, "api_key")


def test_map_record_coerces_ids_and_text_blocks():
    fmt = formats.BY_NAME["anthropic"]
    native = {"timestamp": 1_714_564_800, "request": {
        "model": "claude", "max_tokens": 10, "metadata": {"user_id": 12345},
        "system": [{"type": "text", "text": "Be terse."}],
        "messages": [{"role": "user", "content": "hi"}]},
        "response": {"id": "msg_1", "type": "message"}}
    out = formats.map_record(fmt, native)
    assert out["account_id"] == "12345" and out["system"] == "Be terse."
    assert out["source_format"] == "anthropic"


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="kong"):
        formats.get("splunk")


def test_csv_text_is_read_as_the_contract_types():
    """A CSV export holds every value as text: numbers and booleans are converted, a value
    that is not one is left out rather than quarantining the record."""
    row = {"request_id": "r1", "request_created_at": "2024-05-01 12:00:00",
           "response_status": "200", "request_user_id": "u1", "request_model": "gpt-4o",
           "delay_ms": "812.5", "prompt_tokens": "82", "completion_tokens": "n/a",
           "request_body": json.dumps({"messages": [{"role": "user", "content": "hi"}],
                                       "stream": "true"})}
    out = formats.map_record(formats.BY_NAME["helicone"], row)
    assert out["status"] == 200 and out["latency_ms"] == 812.5 and out["input_tokens"] == 82
    assert "output_tokens" not in out
    assert out["stream"] is True
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_otel_user_message_events_and_resource_user():
    """semconv 1.28–1.36: the prompt as ``gen_ai.user.message`` / ``gen_ai.system.message``
    events; the user on the resource."""
    span = {"spanId": "ab12", "startTimeUnixNano": "1714564800000000000",
            "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}],
            "events": [{"name": "gen_ai.user.message",
                        "attributes": [{"key": "content", "value": {"stringValue": "Explain"}}]}]}
    doc = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "user.id", "value": {"stringValue": "u-9"}}]},
        "scopeSpans": [{"spans": [span]}]}]}
    fmt = formats.detect(doc)
    assert fmt.name == "otel_genai"
    (rec,) = [formats.map_record(fmt, r) for r in formats.records_of(fmt, doc)]
    assert rec["account_id"] == "u-9" and rec["request_id"] == "ab12"
    assert rec["messages"] == [{"role": "user", "content": "Explain"}]
    assert rec["ts"] == 1_714_564_800_000_000_000  # OTLP int64 text read as a number


def test_langfuse_trace_download_yields_its_generations():
    doc = {"id": "t1", "userId": "u-1", "sessionId": "s-1", "observations": [
        {"id": "o1", "traceId": "t1", "type": "SPAN", "startTime": "2024-05-01T12:00:00Z"},
        {"id": "o2", "traceId": "t1", "type": "GENERATION", "startTime": "2024-05-01T12:00:01Z",
         "model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]}]}
    fmt = formats.detect(doc)
    assert fmt.name == "langfuse"
    recs = [formats.map_record(fmt, r) for r in formats.records_of(fmt, doc)]
    assert [r["request_id"] for r in recs] == ["o2"]
    assert recs[0]["account_id"] == "u-1" and recs[0]["session_id"] == "s-1"


def test_only_model_calls_are_records():
    """Spans and observations that are not model calls (HTTP handlers, tools) are not
    requests: they are left out, not quarantined."""
    tool = {"spanId": "t1", "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}}]}
    chat = {"spanId": "c1", "attributes": [
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}]}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [tool, chat]}]}]}
    assert [s["spanId"] for s in formats.otlp_spans(doc)] == ["c1"]
    rows = [{"id": "a", "type": "SPAN"}, {"id": "b", "type": "GENERATION"}]
    fmt = formats.BY_NAME["langfuse"]
    assert [r["id"] for row in rows for r in formats.records_of(fmt, row)] == ["b"]


def test_kong_later_layout_request_under_the_plugin():
    """Later Kong releases put the request under the plugin's payload and name usage keys in
    the plural (kong/llm/drivers/shared.lua)."""
    entry = {"started_at": 1_714_564_800_000, "consumer": {"id": "c-1"},
             "request": {"id": "k-1", "headers": {"user-agent": "curl/8"}},
             "ai": {"proxy": {
                 "payload": {"request": json.dumps({"model": "gpt-4o", "messages": [
                     {"role": "user", "content": "hi"}]})},
                 "meta": {"request_model": "gpt-4o", "provider_name": "openai"},
                 "usage": {"prompt_tokens": 5, "completion_tokens": 7}}}}
    fmt = formats.detect(entry)
    assert fmt.name == "kong"
    out = formats.map_record(fmt, entry)
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert (out["input_tokens"], out["output_tokens"], out["account_id"]) == (5, 7, "c-1")


def test_a_line_longer_than_many_blocks_is_read_whole(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A huge line spans many read pieces and blocks (pieces without a newline are held, not
    joined, until the line ends): it comes out whole, with its neighbours and line numbers."""
    from distillguard.ingest import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)
    monkeypatch.setattr(readers, "READ_BYTES", 16)
    long_line = "x" * 5000
    path = tmp_path / "requests.jsonl"
    path.write_text(f"first\n{long_line}\nlast\n{long_line}")
    got = [
        (line, no)
        for t in readers.iter_jsonl(readers.InputFile(path, "jsonl"))
        for line, no in zip(t.column("line").to_pylist(), t.column("line_no").to_pylist(), strict=True)
    ]
    assert got == [("first", 1), (long_line, 2), ("last", 3), (long_line, 4)]
