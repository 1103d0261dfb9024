"""Realistic gateway log samples built from contract records, one writer per format.

Each builder is written from the format's own documented field names (cited), independently
of ``distillguard.ingest.formats``: it returns the native record and the same request in
contract form, holding exactly what the native record carries (a format without an IP field
gives a reference without ``ip``), so a detect run on either must agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

Rec = dict[str, Any]


def _iso(ms: int, sep: str = "T", offset: str = "Z") -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S.") + f"{ms % 1000:03d}" + offset


def ts_ms(r: Rec) -> int:
    ts = r["ts"]
    if isinstance(ts, int):
        return ts
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))


def _split_system(r: Rec) -> tuple[str | None, list[Rec]]:
    sys_msgs = [m for m in r["messages"] if m["role"] in ("system", "developer")]
    rest = [m for m in r["messages"] if m["role"] not in ("system", "developer")]
    system = "\n".join(_text(m["content"]) for m in sys_msgs) or None
    return system, rest


def _ref(r: Rec, *fields: str, **over: Any) -> Rec:
    """The contract record holding ``fields`` of ``r`` (plus the required ones)."""
    keep = ("request_id", "ts", "account_id", "model", "messages", "input_tokens",
            "output_tokens") + fields
    out = {k: r[k] for k in keep if r.get(k) is not None}
    out.update({k: v for k, v in over.items() if v is not None})
    return out


def _answer(r: Rec) -> str:
    return r.get("response_text") or "Here is a detailed answer."


def _chat_completion(r: Rec, created: int) -> Rec:
    """An OpenAI chat.completion object (platform.openai.com/docs/api-reference/chat/object)."""
    return {
        "id": f"chatcmpl-{r['request_id']}",
        "object": "chat.completion",
        "created": created,
        "model": r["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _answer(r)},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": r.get("input_tokens", 0),
                  "completion_tokens": r.get("output_tokens", 0),
                  "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0)},
    }


# ---- LiteLLM StandardLoggingPayload (docs/my-website/docs/proxy/logging_spec.md) -------------
def litellm(r: Rec) -> tuple[Rec, Rec]:
    t = ts_ms(r) / 1000
    lat = r.get("latency_ms", 900) / 1000
    native = {
        "id": r["request_id"], "trace_id": f"trace-{r['request_id']}", "call_type": "acompletion",
        "stream": r.get("stream"), "status": "success", "response_cost": 0.0021,
        "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0),
        "prompt_tokens": r.get("input_tokens"), "completion_tokens": r.get("output_tokens"),
        "startTime": t, "endTime": t + lat, "completionStartTime": t + lat / 3,
        "response_time": lat, "model": r["model"], "model_id": "dep-1", "model_group": r["model"],
        "api_base": "https://api.openai.com/v1",
        "metadata": {
            "user_api_key_hash": r.get("api_key_id"), "user_api_key_alias": None,
            "user_api_key_org_id": r.get("org_id"), "user_api_key_team_id": "team-1",
            "user_api_key_user_id": r["account_id"], "user_api_key_team_alias": None,
            "spend_logs_metadata": None, "requester_ip_address": r.get("ip"),
            "requester_metadata": {}, "user_agent": r.get("user_agent"),
        },
        "cache_hit": None, "cache_key": None, "saved_cache_cost": 0.0, "request_tags": [],
        "end_user": None, "requester_ip_address": r.get("ip"), "user_agent": r.get("user_agent"),
        "session_id": r.get("session_id"),
        "messages": r["messages"], "response": _chat_completion(r, int(t)),
        "error_str": None, "error_information": None,
        "model_parameters": {k: r[k] for k in ("max_tokens", "stream") if k in r},
        "hidden_params": {"model_id": "dep-1", "cache_key": None, "api_base": None,
                          "response_cost": "0.0021", "additional_headers": {}},
    }
    ref = _ref(r, "ip", "user_agent", "org_id", "api_key_id", "session_id", "max_tokens", "stream",
               ts=int(round(t * 1000)))
    return native, ref


# ---- LiteLLM_SpendLogs (schema.prisma), as a database export: Json columns as text ------------
def litellm_spendlogs(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    native = {
        "request_id": r["request_id"], "call_type": "acompletion",
        "api_key": r.get("api_key_id") or "", "spend": 0.0021,
        "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0),
        "prompt_tokens": r.get("input_tokens", 0), "completion_tokens": r.get("output_tokens", 0),
        "startTime": _iso(ms, offset=""),  # timestamp(3) without time zone
        "endTime": _iso(ms + r.get("latency_ms", 900), offset=""),
        "request_duration_ms": r.get("latency_ms"), "completionStartTime": None,
        "model": r["model"], "model_id": "dep-1", "model_group": r["model"],
        "custom_llm_provider": "openai", "api_base": "https://api.openai.com/v1",
        "user": r["account_id"], "metadata": json.dumps({"user_api_key": r.get("api_key_id")}),
        "cache_hit": "False", "cache_key": "", "request_tags": "[]", "team_id": None,
        "organization_id": r.get("org_id"), "end_user": "",
        "requester_ip_address": r.get("ip"), "messages": json.dumps(r["messages"]),
        "response": json.dumps(_chat_completion(r, ms // 1000)),
        "session_id": r.get("session_id"), "status": "success",
        "mcp_namespaced_tool_name": None, "agent_id": None, "proxy_server_request": "{}",
    }
    return native, _ref(r, "ip", "org_id", "api_key_id", "session_id", "latency_ms")


# ---- OpenAI chat request/response pair (api-reference/chat) -----------------------------------
def openai(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    request = {"model": r["model"], "messages": r["messages"], "user": r["account_id"]}
    request.update({k: r[k] for k in ("max_tokens", "stream") if k in r})
    native = {"timestamp": _iso(ms), "client_ip": r.get("ip"), "request": request,
              "response": {**_chat_completion(r, ms // 1000), "id": r["request_id"]}}
    return native, _ref(r, "ip", "max_tokens", "stream")


# ---- OpenAI Batch API input + output lines (guides/batch) -------------------------------------
def openai_batch(r: Rec) -> tuple[tuple[Rec, Rec], Rec]:
    created = ts_ms(r) // 1000  # a batch request's only time: the response's ``created``
    body = {"model": r["model"], "messages": r["messages"], "user": r["account_id"]}
    body.update({k: r[k] for k in ("max_tokens",) if k in r})
    custom_id = f"task-{r['request_id']}"
    inp = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    out = {"id": f"batch_req_{r['request_id']}", "custom_id": custom_id,
           "response": {"status_code": 200, "request_id": r["request_id"],
                        "body": _chat_completion(r, created)},
           "error": None}
    return (inp, out), _ref(r, "max_tokens", ts=created * 1000, status=200)


# ---- OpenAI Responses API pair (api-reference/responses) --------------------------------------
def openai_responses(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    system, rest = _split_system(r)
    items = [
        {"role": m["role"], "content": [
            {"type": "output_text" if m["role"] == "assistant" else "input_text",
             "text": _text(m["content"])}]}
        for m in rest
    ]
    request = {"model": r["model"], "input": items, "safety_identifier": r["account_id"]}
    if system:
        request["instructions"] = system
    if "max_tokens" in r:
        request["max_output_tokens"] = r["max_tokens"]
    if "stream" in r:
        request["stream"] = r["stream"]
    response = {
        "id": r["request_id"], "object": "response", "created_at": ms // 1000,
        "status": "completed", "model": r["model"],
        "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": _answer(r), "annotations": []}]}],
        "usage": {"input_tokens": r.get("input_tokens", 0),
                  "output_tokens": r.get("output_tokens", 0),
                  "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0)},
    }
    native = {"timestamp": _iso(ms), "client_ip": r.get("ip"), "request": request,
              "response": response}
    return native, _ref(r, "ip", "max_tokens", "stream", messages=rest, system=system)


# ---- Anthropic Messages pair (docs.anthropic.com/en/api/messages) -----------------------------
def anthropic(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    system, rest = _split_system(r)
    request = {
        "model": r["model"], "max_tokens": r.get("max_tokens", 4096),
        "messages": [{"role": m["role"],
                      "content": [{"type": "text", "text": _text(m["content"])}]} for m in rest],
        "metadata": {"user_id": r["account_id"]},
    }
    if system:
        request["system"] = [{"type": "text", "text": system}]
    if "stream" in r:
        request["stream"] = r["stream"]
    response = {
        "id": r["request_id"], "type": "message", "role": "assistant", "model": r["model"],
        "content": [{"type": "text", "text": _answer(r)}], "stop_reason": "end_turn",
        "usage": {"input_tokens": r.get("input_tokens", 0),
                  "output_tokens": r.get("output_tokens", 0)},
    }
    native = {"timestamp": _iso(ms), "client_ip": r.get("ip"), "request": request,
              "response": response}
    return native, _ref(r, "ip", "stream", messages=rest, system=system,
                        max_tokens=r.get("max_tokens", 4096))


# ---- OpenTelemetry GenAI span, OTLP/JSON (semantic-conventions docs/gen-ai) -------------------
def _attr(key: str, value: Any) -> Rec:
    if isinstance(value, bool):
        v: Rec = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}  # OTLP/JSON writes int64 as a string
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def otel_span(r: Rec, old_events: bool = False) -> tuple[Rec, Rec]:
    ns = ts_ms(r) * 1_000_000
    attrs = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": r["model"], "gen_ai.response.model": r["model"],
        "gen_ai.response.id": r["request_id"], "user.id": r["account_id"],
        "gen_ai.usage.input_tokens": r.get("input_tokens"),
        "gen_ai.usage.output_tokens": r.get("output_tokens"),
        "gen_ai.request.max_tokens": r.get("max_tokens"),
        "gen_ai.conversation.id": r.get("session_id"),
        "client.address": r.get("ip"), "user_agent.original": r.get("user_agent"),
    }
    events = []
    if old_events:  # semconv ≤ 1.27: the prompt as a span event
        events.append({"timeUnixNano": str(ns), "name": "gen_ai.content.prompt",
                       "attributes": [_attr("gen_ai.prompt", json.dumps(r["messages"]))]})
    else:
        attrs["gen_ai.input.messages"] = json.dumps([
            {"role": m["role"], "parts": [{"type": "text", "content": _text(m["content"])}]}
            for m in r["messages"]
        ])
    span = {
        "traceId": r["request_id"].encode().hex()[:32].ljust(32, "0"),
        "spanId": r["request_id"].encode().hex()[-16:].rjust(16, "0"),
        "name": f"chat {r['model']}", "kind": 3,
        "startTimeUnixNano": str(ns), "endTimeUnixNano": str(ns + r.get("latency_ms", 900) * 10**6),
        "attributes": [_attr(k, v) for k, v in attrs.items() if v is not None],
        "events": events, "status": {"code": 1},
    }
    return span, _ref(r, "ip", "user_agent", "session_id", "max_tokens")


def otlp_document(spans: list[Rec]) -> Rec:
    """An ExportTraceServiceRequest (opentelemetry-proto, JSON encoding)."""
    return {"resourceSpans": [{
        "resource": {"attributes": [_attr("service.name", "llm-gateway")]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                        "spans": spans}],
    }]}


# ---- Helicone request export (HeliconeRequest, examples/export) -------------------------------
def helicone(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    body = {"model": r["model"], "messages": r["messages"]}
    body.update({k: r[k] for k in ("max_tokens", "stream") if k in r})
    native = {
        "response_id": f"resp-{r['request_id']}", "response_created_at": _iso(ms + 900, sep=" ", offset=""),
        "response_body": _chat_completion(r, ms // 1000), "response_status": r.get("status", 200),
        "response_model": r["model"], "request_id": r["request_id"], "request_model": r["model"],
        "model_override": None,
        "request_created_at": _iso(ms, sep=" ", offset=""),  # ClickHouse DateTime64, UTC
        "request_body": body, "request_path": "https://api.openai.com/v1/chat/completions",
        "request_user_id": r["account_id"], "request_properties": {}, "request_feedback": None,
        "helicone_user": None, "prompt_name": None, "prompt_regex": None, "key_name": "",
        "delay_ms": r.get("latency_ms"), "time_to_first_token": 120,
        "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0),
        "prompt_tokens": r.get("input_tokens"), "completion_tokens": r.get("output_tokens"),
        "provider": "OPENAI", "node_id": None, "country_code": r.get("country"),
    }
    return native, _ref(r, "country", "latency_ms", "max_tokens", "stream",
                        status=r.get("status", 200))


# ---- Langfuse observations export (ObservationV2) ---------------------------------------------
def langfuse(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    native = {
        "id": r["request_id"], "traceId": f"trace-{r['request_id']}", "projectId": "proj-1",
        "type": "GENERATION", "name": "OpenAI-generation", "startTime": _iso(ms),
        "endTime": _iso(ms + r.get("latency_ms", 900)), "completionStartTime": None,
        "userId": r["account_id"], "sessionId": r.get("session_id"), "level": "DEFAULT",
        "statusMessage": None, "version": None, "environment": "default",
        "providedModelName": r["model"],
        "modelParameters": {k: r[k] for k in ("max_tokens",) if k in r},
        "input": r["messages"], "output": {"role": "assistant", "content": _answer(r)},
        "metadata": {}, "usageDetails": {"input": r.get("input_tokens", 0),
                                         "output": r.get("output_tokens", 0)},
        "latency": r.get("latency_ms", 900) / 1000,
    }
    return native, _ref(r, "session_id", "max_tokens")


# ---- Kong ai-proxy through file-log (developer.konghq.com/ai-gateway/ai-audit-log-reference) ---
def kong(r: Rec) -> tuple[Rec, Rec]:
    ms = ts_ms(r)
    body = {"model": r["model"], "messages": r["messages"]}
    body.update({k: r[k] for k in ("max_tokens",) if k in r})
    lat = r.get("latency_ms", 900)
    native = {
        "request": {"id": r["request_id"], "method": "POST", "uri": "/openai/v1/chat/completions",
                    "url": "http://gateway:8000/openai/v1/chat/completions", "size": 812,
                    "querystring": {}, "headers": {"user-agent": r.get("user_agent"),
                                                   "content-type": "application/json"}},
        "response": {"status": r.get("status", 200), "size": 2048, "headers": {}},
        "latencies": {"request": lat, "kong": 2, "proxy": lat - 2},
        "client_ip": r.get("ip"), "started_at": ms,
        "consumer": {"id": r["account_id"], "username": f"user-{r['account_id']}"},
        "route": {"name": "openai-chat"}, "service": {"name": "openai"},
        "ai": {
            "payload": {"request": json.dumps(body)},
            "ai-proxy": {
                "payload": {"response": json.dumps(_chat_completion(r, ms // 1000))},
                "meta": {"plugin_id": "6e7c40f6-ce96-48e4-a366-d109c169e444",
                         "provider_name": "openai", "request_model": r["model"],
                         "response_model": r["model"], "llm_latency": lat - 40},
                "usage": {"prompt_token": r.get("input_tokens"),
                          "completion_token": r.get("output_tokens"),
                          "total_tokens": r.get("input_tokens", 0) + r.get("output_tokens", 0),
                          "time_per_token": 12, "cost": 0.002},
            },
        },
    }
    return native, _ref(r, "ip", "user_agent", "latency_ms", "max_tokens",
                        status=r.get("status", 200))


BUILDERS: dict[str, Callable[[Rec], tuple[Any, Rec]]] = {
    "litellm": litellm,
    "litellm_spendlogs": litellm_spendlogs,
    "openai": openai,
    "openai_batch": openai_batch,
    "openai_responses": openai_responses,
    "anthropic": anthropic,
    "otel_genai": otel_span,
    "helicone": helicone,
    "langfuse": langfuse,
    "kong": kong,
}


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    return path


def write_sample(name: str, records: list[Rec], folder: Path) -> tuple[list[Path], Path]:
    """Write ``records`` as format ``name`` (the file layout that format really has) and the
    reference contract JSONL; returns (native files, reference file)."""
    built = [BUILDERS[name](r) for r in records]
    refs = [ref for _, ref in built]
    native = [n for n, _ in built]
    if name == "openai_batch":  # an input file and its output file
        files = [_jsonl(folder / "batch_input.jsonl", [n[0] for n in native]),
                 _jsonl(folder / "batch_output.jsonl", [n[1] for n in native])]
    elif name == "otel_genai":  # OTLP/JSON: one ExportTraceServiceRequest per line, 50 spans
        spans = [otel_span(r, old_events=i % 5 == 0)[0] for i, r in enumerate(records)]
        docs = [otlp_document(spans[i : i + 50]) for i in range(0, len(spans), 50)]
        files = [_jsonl(folder / "traces.jsonl", docs)]
    elif name == "helicone":  # the export tool's JSON format: one array
        path = folder / "helicone-export.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(native), encoding="utf-8")
        files = [path]
    else:
        files = [_jsonl(folder / f"{name}.jsonl", native)]
    return files, _jsonl(folder.parent / f"{folder.name}-reference" / "reference.jsonl", refs)


def rec_for_tests(i: int = 1) -> Rec:
    """One contract record with every field the builders read."""
    return {
        "request_id": f"req-{i}", "ts": 1_714_564_800_000 + i, "account_id": f"acct-{i}",
        "model": "gpt-4o", "messages": [{"role": "system", "content": "You are helpful."},
                                        {"role": "user", "content": "Explain tides."}],
        "org_id": "org-1", "api_key_id": "key-1", "session_id": "sess-1", "ip": "198.51.100.7",
        "user_agent": "openai-python/1.40.0", "country": "DE", "max_tokens": 800,
        "stream": False, "input_tokens": 30, "output_tokens": 400, "status": 200,
        "latency_ms": 900,
    }
