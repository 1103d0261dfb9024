"""The log formats gateways write, each as one declarative mapping onto the contract (§1).

A format is data: which source paths fill which contract field, tried in order, with the
document the field names come from cited beside it. One small interpreter
(:func:`map_record`) applies any of them, so a new gateway is a new entry, not a new reader.
The mapped record is a contract record as JSON text; ``ingest.validate`` then checks it like
any other (times in any epoch unit or ISO form, messages as a list or a JSON string, text in
``content`` or OTel ``parts``), so nothing here decides what is valid.

Path syntax: ``a/b/0/c`` walks objects and list indexes (JSON text on the way is parsed);
``*`` is any child (the first one under which the rest of the path exists, for containers
named after a plugin instance); ``a|json`` parses a JSON string
found there (database columns and OTel attributes hold JSON as text); ``|user`` wraps a plain
string as one user message; ``|int`` reads an integer from a digit string (OTLP/JSON writes
int64 as text); ``|names`` keeps the names of a list of tool declarations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..contract import OPTIONAL_REQUEST_FIELDS
from ..errors import InvalidParameterError

Fields = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class LogFormat:
    """One gateway log format.

    ``detect``: the format is recognised when every path of any one group is present in a
    record (after ``unwrap``). ``fields``: contract field → source paths, first present wins.
    ``unwrap`` turns one stored document into the records it holds (OTLP batches of spans).
    """

    name: str
    title: str
    source: str  # the documentation / source file the field names follow
    detect: tuple[tuple[str, ...], ...]
    fields: Fields
    unwrap: Callable[[Any], Iterable[Any]] | None = None
    explodes: bool = False  # one stored document holds many records: number the records


# ---- path interpreter ------------------------------------------------------------------------
_MISSING = object()


def _step(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key, _MISSING)
    if isinstance(value, list) and key.lstrip("-").isdigit():
        i = int(key)
        return value[i] if -len(value) <= i < len(value) else _MISSING
    return _MISSING


@lru_cache(maxsize=64)
def _parse(text: str) -> Any:
    # Several paths walk into the same JSON text (a stored request body): parse it once.
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _as_json(v: Any) -> Any:
    return _parse(v) if isinstance(v, str) and v.lstrip()[:1] in ("{", "[") else v


def _as_int(v: Any) -> Any:
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return v


def _as_user(v: Any) -> Any:
    return [{"role": "user", "content": v}] if isinstance(v, str) else v


def _tool_names(v: Any) -> Any:
    if not isinstance(v, list):
        return v
    names = []
    for t in v:
        if isinstance(t, dict):
            t = t.get("name") or (t.get("function") or {}).get("name")
        if isinstance(t, str):
            names.append(t)
    return names


def _messages(v: Any) -> Any:
    """The items of a message list that carry a role (a Responses API ``input`` also holds
    tool calls and outputs); nothing when none do (LiteLLM stores ``{}`` when prompts are
    not logged)."""
    if not isinstance(v, list):
        return _MISSING
    kept = [m for m in v if isinstance(m, dict) and isinstance(m.get("role"), str)]
    return kept or _MISSING


def _string(v: Any) -> Any:
    return v if isinstance(v, str) else _MISSING


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "json": _as_json,
    "int": _as_int,
    "user": _as_user,
    "names": _tool_names,
    "msgs": _messages,
    "str": _string,
}

# Contract fields that are strings: ids written as numbers become text; a structured value
# (a content block list for ``system``) becomes its text, anything else is left out rather
# than quarantining the record for a field the format does not really carry.
STRING_FIELDS: frozenset[str] = frozenset(
    ("request_id", "account_id", "model", "system", "org_id", "api_key_id", "session_id",
     "ip", "user_agent", "country", "payment_fingerprint", "access_route", "response_text")
)


def _as_text(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, list):  # text blocks: [{"type": "text", "text": ...}] or OTel parts
        texts = [b.get("text") or b.get("content") for b in v if isinstance(b, dict)]
        joined = "\n".join(t for t in texts if isinstance(t, str))
        return joined or _MISSING
    return _MISSING


def _walk(value: Any, keys: list[str], keep_null: bool) -> Any:
    """Follow ``keys`` from ``value``; ``*`` tries each child in order (first that resolves).
    ``keep_null`` returns a present-but-null last value as ``None`` instead of missing."""
    if not keys:
        return value
    if isinstance(value, str):
        value = _as_json(value)
    key, rest = keys[0], keys[1:]
    if key == "*":
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            found = _walk(child, rest, keep_null)
            if found is not _MISSING:
                return found
        return _MISSING
    nxt = _step(value, key)
    if nxt is _MISSING or (nxt is None and not (keep_null and not rest)):
        return _MISSING
    return _walk(nxt, rest, keep_null)


def get_path(record: Any, path: str) -> Any:
    """The value at ``path`` (see the module docstring), or ``_MISSING``."""
    where, *transforms = path.split("|")
    value = _walk(record, where.split("/"), keep_null=False)
    for t in transforms:
        if value is _MISSING:
            break
        value = TRANSFORMS[t](value)
    return value


def _as_kind(v: Any, kind: str) -> Any:
    """A number or boolean written as text (CSV exports, OTLP int64) as the contract's type."""
    if not isinstance(v, str):
        return v
    text = v.strip()
    if kind in ("integer", "number", "string|integer"):
        try:
            num = float(text)
        except ValueError:
            return v if kind == "string|integer" else _MISSING
        return int(num) if num.is_integer() and kind != "number" else num
    if kind == "bool":
        return {"true": True, "false": False}.get(text.lower(), _MISSING)
    return v


def map_record(fmt: LogFormat, record: Any) -> dict[str, Any]:
    """A contract record from one source record (absent fields stay absent)."""
    out: dict[str, Any] = {}
    for target, paths in fmt.fields.items():
        for path in paths:
            value = get_path(record, path)
            if value is _MISSING:
                continue
            if target in STRING_FIELDS:
                value = _as_text(value)
            elif target in OPTIONAL_REQUEST_FIELDS:
                value = _as_kind(value, OPTIONAL_REQUEST_FIELDS[target])
            if value is not _MISSING and value != "":
                out[target] = value
                break
    out["source_format"] = fmt.name  # an unknown field: kept in ``extra`` for provenance
    return out


def has_path(record: Any, path: str) -> bool:
    """True when the keys of ``path`` exist, even holding null or "" (an empty CSV cell)."""
    return _walk(record, path.split("/"), keep_null=True) is not _MISSING


def matches(fmt: LogFormat, record: Any) -> bool:
    """True when ``record`` carries every path of one of the format's ``detect`` groups."""
    return isinstance(record, dict) and any(
        all(has_path(record, p) for p in group) for group in fmt.detect
    )


# ---- unwrapping --------------------------------------------------------------------------------
def _otlp_value(v: dict[str, Any]) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain value."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return _as_int(v["intValue"])
    if "arrayValue" in v:
        return [_otlp_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return _otlp_attrs(v["kvlistValue"].get("values", []))
    return None


def _otlp_attrs(kvs: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv.get("key"): _otlp_value(kv.get("value") or {}) for kv in kvs or []}


def otlp_spans(doc: Any) -> Iterator[dict[str, Any]]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest``, attributes as a flat dict.

    Span events keep their name and attributes (the older prompt events live there); the
    resource's attributes (``service.name``, ``user.id`` set process-wide) are under
    ``resource``. Only model calls are requests: spans without ``gen_ai.request.model``
    (HTTP handlers, tool executions, agent steps sharing the trace) are not records of the
    request log and are left out.
    """
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        yield doc
        return
    for rs in doc.get("resourceSpans") or []:
        resource = _otlp_attrs((rs.get("resource") or {}).get("attributes", []))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for span in ss.get("spans") or []:
                flat = dict(span)
                flat["attributes"] = _otlp_attrs(span.get("attributes", []))
                flat["events"] = {
                    e.get("name"): _otlp_attrs(e.get("attributes", []))
                    for e in span.get("events") or []
                }
                flat["resource"] = resource
                if "gen_ai.request.model" in flat["attributes"]:
                    yield flat


def _is_generation(obs: Any) -> bool:
    # Langfuse observations are SPAN / EVENT / GENERATION (and agent/tool types); only a
    # generation is a model call.
    return isinstance(obs, dict) and obs.get("type", "GENERATION") == "GENERATION"


def langfuse_observations(doc: Any) -> Iterator[Any]:
    """Generation observations of a Langfuse export (rows, or a trace download's list)."""
    if isinstance(doc, dict) and isinstance(doc.get("observations"), list):
        trace = {k: doc.get(k) for k in ("userId", "sessionId")}
        for obs in filter(_is_generation, doc["observations"]):
            yield {**{k: v for k, v in trace.items() if v is not None}, **obs}
    elif _is_generation(doc) or not isinstance(doc, dict):
        yield doc


def litellm_payload(doc: Any) -> Iterator[Any]:
    """A StandardLoggingPayload, or the callback kwargs that carry one."""
    if isinstance(doc, dict) and isinstance(doc.get("standard_logging_object"), dict):
        yield doc["standard_logging_object"]
    else:
        yield doc


# ---- the formats -------------------------------------------------------------------------------
# Shared: an OpenAI Chat Completions request body (platform.openai.com/docs/api-reference/chat/create)
# under ``prefix``, and its response (the chat.completion object) under ``resp``.
def _openai_chat(prefix: str, resp: str) -> Fields:
    return {
        "model": (f"{prefix}model", f"{resp}model"),
        "messages": (f"{prefix}messages|json",),
        "tools": (f"{prefix}tools|names",),
        "max_tokens": (f"{prefix}max_completion_tokens", f"{prefix}max_tokens"),
        "temperature": (f"{prefix}temperature",),
        "reasoning": (f"{prefix}reasoning_effort",),
        "stream": (f"{prefix}stream",),
        "response_text": (f"{resp}choices/0/message/content",),
        "input_tokens": (f"{resp}usage/prompt_tokens",),
        "output_tokens": (f"{resp}usage/completion_tokens",),
        "reasoning_tokens": (f"{resp}usage/completion_tokens_details/reasoning_tokens",),
    }


FORMATS: tuple[LogFormat, ...] = (
    LogFormat(
        name="contract",
        title="distillguard contract (docs/CONTRACT.md §1)",
        source="docs/CONTRACT.md",
        detect=(("request_id", "account_id", "ts"),),
        fields={},  # identity: read by the SQL validation directly
    ),
    LogFormat(
        name="litellm",
        title="LiteLLM StandardLoggingPayload (logging callbacks' JSON)",
        # BerriAI/litellm docs/my-website/docs/proxy/logging_spec.md and
        # litellm/types/utils.py: StandardLoggingPayload, StandardLoggingMetadata,
        # StandardLoggingUserAPIKeyMetadata.
        source="https://docs.litellm.ai/docs/proxy/logging_spec",
        detect=(("id", "call_type", "startTime", "metadata"),),
        unwrap=litellm_payload,
        fields={
            "request_id": ("id",),
            "ts": ("startTime",),  # float, epoch seconds
            # The billed account: the key's user, else its team, else the key itself.
            "account_id": (
                "metadata/user_api_key_user_id",
                "metadata/user_api_key_team_id",
                "metadata/user_api_key_hash",
            ),
            "model": ("model", "model_group"),
            "messages": ("messages|json|user|msgs",),
            "org_id": ("metadata/user_api_key_org_id",),
            "api_key_id": ("metadata/user_api_key_hash",),
            "session_id": ("session_id",),
            "ip": ("requester_ip_address", "metadata/requester_ip_address"),
            "user_agent": ("user_agent", "metadata/user_agent"),
            "tools": ("model_parameters/tools|names",),
            "max_tokens": ("model_parameters/max_completion_tokens", "model_parameters/max_tokens"),
            "temperature": ("model_parameters/temperature",),
            "reasoning": ("model_parameters/reasoning_effort",),
            "stream": ("stream", "model_parameters/stream"),
            "response_text": ("response/choices/0/message/content",),
            "input_tokens": ("prompt_tokens",),
            "output_tokens": ("completion_tokens",),
            "status": ("error_information/error_code|int",),
        },
    ),
    LogFormat(
        name="litellm_spendlogs",
        title="LiteLLM_SpendLogs table rows (proxy database)",
        # BerriAI/litellm schema.prisma, model LiteLLM_SpendLogs. ``messages`` / ``response``
        # are Json columns (text in CSV exports); prompts are stored only with
        # ``store_prompts_in_spend_logs``, so a table without them runs metadata-only.
        source="https://github.com/BerriAI/litellm/blob/main/schema.prisma",
        detect=(("request_id", "call_type", "api_key", "startTime"),),
        fields={
            "request_id": ("request_id",),
            "ts": ("startTime",),  # DateTime (timestamp(3) without time zone: UTC)
            "account_id": ("user", "team_id", "organization_id", "api_key"),
            "model": ("model", "model_group"),
            "messages": ("messages|json|user|msgs",),
            "org_id": ("organization_id",),
            "api_key_id": ("api_key",),
            "session_id": ("session_id",),
            "ip": ("requester_ip_address",),
            "user_agent": ("metadata/user_agent",),
            "response_text": ("response/choices/0/message/content",),
            "input_tokens": ("prompt_tokens|int",),
            "output_tokens": ("completion_tokens|int",),
            "latency_ms": ("request_duration_ms|int",),
        },
    ),
    LogFormat(
        name="openai_batch",
        title="OpenAI Batch API input file (with its output file, joined on custom_id)",
        # platform.openai.com/docs/guides/batch: input lines {custom_id, method, url, body};
        # output lines {id, custom_id, response: {status_code, request_id, body}, error}.
        # ``output`` is the joined output line (see ``readers``); the time is the response's
        # ``created`` (a batch request has none of its own).
        source="https://platform.openai.com/docs/guides/batch",
        detect=(("custom_id", "body", "url"), ("custom_id", "response/body")),
        fields={
            "request_id": ("output/response/request_id", "output/id", "custom_id"),
            "ts": ("output/response/body/created", "response/body/created"),
            "account_id": ("body/user", "body/safety_identifier", "body/metadata/user_id"),
            **_openai_chat("body/", "output/response/body/"),
            "model": ("body/model", "output/response/body/model", "response/body/model"),
            "status": ("output/response/status_code", "response/status_code"),
        },
    ),
    LogFormat(
        name="openai_responses",
        title="OpenAI Responses API request/response pair",
        # platform.openai.com/docs/api-reference/responses/create (request: model, input,
        # instructions, tools, max_output_tokens, reasoning.effort, user / safety_identifier)
        # and the response object (id, created_at, usage.input_tokens, output_text).
        source="https://platform.openai.com/docs/api-reference/responses",
        detect=(("request/input", "response/object"), ("request/input", "response/created_at")),
        fields={
            "request_id": ("response/id", "request_id"),
            "ts": ("timestamp", "response/created_at"),
            "account_id": ("account_id", "request/user", "request/safety_identifier"),
            "model": ("request/model", "response/model"),
            "messages": ("request/input|user|msgs",),
            "system": ("request/instructions",),
            "tools": ("request/tools|names",),
            "max_tokens": ("request/max_output_tokens",),
            "temperature": ("request/temperature",),
            "reasoning": ("request/reasoning/effort",),
            "stream": ("request/stream",),
            # ``output_text`` is the SDKs' convenience; the raw response holds output items
            # (a reasoning item may come first).
            "response_text": ("response/output_text", "response/output/*/content/0/text"),
            "input_tokens": ("response/usage/input_tokens",),
            "output_tokens": ("response/usage/output_tokens",),
            "reasoning_tokens": ("response/usage/output_tokens_details/reasoning_tokens",),
            "ip": ("client_ip",),
        },
    ),
    LogFormat(
        name="anthropic",
        title="Anthropic Messages API request/response pair",
        # docs.anthropic.com/en/api/messages: request model, system (string or text blocks),
        # messages (content string or blocks), max_tokens, metadata.user_id, tools[].name,
        # thinking.budget_tokens; response id, model, content, usage.input/output_tokens.
        # A Messages response carries no time: the envelope's ``timestamp`` gives it.
        source="https://docs.anthropic.com/en/api/messages",
        detect=(("request/messages", "response/type", "request/max_tokens"),),
        fields={
            "request_id": ("response/id", "request_id"),
            "ts": ("timestamp",),
            "account_id": ("account_id", "request/metadata/user_id"),
            "model": ("request/model", "response/model"),
            "messages": ("request/messages",),
            "system": ("request/system",),  # a string or text blocks
            "tools": ("request/tools|names",),
            "max_tokens": ("request/max_tokens",),
            "temperature": ("request/temperature",),
            "reasoning": ("request/thinking/budget_tokens",),
            "stream": ("request/stream",),
            "response_text": ("response/content/0/text",),
            "input_tokens": ("response/usage/input_tokens",),
            "output_tokens": ("response/usage/output_tokens",),
            "ip": ("client_ip",),
        },
    ),
    LogFormat(
        name="openai",
        title="OpenAI Chat Completions request/response pair",
        # platform.openai.com/docs/api-reference/chat/create (request body; ``user`` /
        # ``safety_identifier`` name the end user) and the chat.completion object
        # (id, created in epoch seconds, model, choices, usage).
        source="https://platform.openai.com/docs/api-reference/chat",
        detect=(("request/messages", "response/choices"), ("request/messages", "response/id")),
        fields={
            "request_id": ("response/id", "request_id"),
            "ts": ("timestamp", "response/created"),
            "account_id": ("account_id", "request/user", "request/safety_identifier"),
            **_openai_chat("request/", "response/"),
            "ip": ("client_ip",),
            "status": ("status",),
        },
    ),
    LogFormat(
        name="otel_genai",
        title="OpenTelemetry GenAI spans (OTLP/JSON)",
        # open-telemetry/semantic-conventions docs/gen-ai/gen-ai-spans.md: gen_ai.request.model,
        # gen_ai.input.messages / gen_ai.system_instructions (JSON, messages with ``parts``),
        # gen_ai.usage.input_tokens, gen_ai.response.id, gen_ai.conversation.id; the older
        # span events ``gen_ai.content.prompt`` (attribute ``gen_ai.prompt``) and
        # ``gen_ai.user.message`` (``content``). The account is ``user.id`` (general
        # semconv) or the deprecated ``enduser.id``, on the span or its resource.
        source="https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/",
        detect=(("spanId", "attributes/gen_ai.request.model"), ("spanId", "attributes/gen_ai.operation.name")),
        unwrap=otlp_spans,
        explodes=True,
        fields={
            "request_id": ("attributes/gen_ai.response.id", "spanId"),
            "ts": ("startTimeUnixNano|int",),
            "account_id": (
                "attributes/user.id",
                "attributes/enduser.id",
                "resource/user.id",
                "resource/enduser.id",
            ),
            "model": ("attributes/gen_ai.request.model", "attributes/gen_ai.response.model"),
            "messages": (
                "attributes/gen_ai.input.messages|json|msgs",
                "events/gen_ai.content.prompt/gen_ai.prompt|json|user|msgs",
                "attributes/gen_ai.prompt|json|user|msgs",
                "events/gen_ai.user.message/content|user",
            ),
            "system": ("attributes/gen_ai.system_instructions|json",),  # a JSON list of parts
            "session_id": ("attributes/gen_ai.conversation.id", "attributes/session.id"),
            "ip": ("attributes/client.address",),
            "user_agent": ("attributes/user_agent.original",),
            "max_tokens": ("attributes/gen_ai.request.max_tokens|int",),
            "temperature": ("attributes/gen_ai.request.temperature",),
            "input_tokens": ("attributes/gen_ai.usage.input_tokens|int",),
            "output_tokens": ("attributes/gen_ai.usage.output_tokens|int",),
        },
    ),
    LogFormat(
        name="helicone",
        title="Helicone request export (npx @helicone/export, /v1/request/query)",
        # Helicone/helicone: HeliconeRequest (request_id, request_created_at, request_body,
        # request_user_id, request_model, response_status, delay_ms, prompt_tokens,
        # completion_tokens, country_code, response_body); the export tool's CSV
        # (examples/export/typescript/index.ts) has response_id, request_created_at,
        # request_body, request_user_id, model, prompt_tokens, completion_tokens, latency.
        source="https://docs.helicone.ai/rest/request/post-v1requestquery-clickhouse",
        detect=(
            ("request_id", "request_created_at", "response_status"),
            ("response_id", "request_created_at", "response_status", "request_body"),
        ),
        fields={
            "request_id": ("request_id", "response_id"),
            "ts": ("request_created_at",),
            "account_id": ("request_user_id", "helicone_user", "key_name"),
            "model": ("request_model", "model", "request_body/model"),
            "messages": ("request_body/messages|msgs",),
            "country": ("country_code",),
            "status": ("response_status",),
            "latency_ms": ("delay_ms", "latency"),
            "input_tokens": ("prompt_tokens",),
            "output_tokens": ("completion_tokens",),
            "max_tokens": ("request_body/max_tokens",),
            "temperature": ("request_body/temperature",),
            "stream": ("request_body/stream",),
            "tools": ("request_body/tools|names",),
            "response_text": ("response_body/choices/0/message/content",),
        },
    ),
    LogFormat(
        name="langfuse",
        title="Langfuse observations export (generations; UI export or API v1/v2)",
        # langfuse Observation / ObservationV2 (api/public/observations, v2/observations):
        # id, traceId, type, startTime, model / providedModelName, modelParameters, input,
        # output, usage{input,output} / usageDetails, userId, sessionId, latency (seconds).
        source="https://api.reference.langfuse.com/#tag/observationsv2",
        detect=(("id", "traceId", "startTime", "type"),),
        unwrap=langfuse_observations,
        explodes=True,
        fields={
            "request_id": ("id",),
            "ts": ("startTime",),
            "account_id": ("userId", "metadata/user_id", "metadata/userId"),
            "model": ("model", "providedModelName"),
            "messages": ("input/messages|msgs", "input|json|user|msgs"),
            "session_id": ("sessionId",),
            "max_tokens": ("modelParameters/max_tokens",),
            "temperature": ("modelParameters/temperature",),
            "response_text": ("output/content", "output|str"),
            "input_tokens": ("usageDetails/input", "usage/input", "promptTokens"),
            "output_tokens": ("usageDetails/output", "usage/output", "completionTokens"),
        },
    ),
    LogFormat(
        name="kong",
        title="Kong AI Gateway (ai-proxy, ai-proxy-advanced) through a log plugin (file-log)",
        # developer.konghq.com/ai-gateway/ai-audit-log-reference: ai.payload.request,
        # ai.<plugin>.payload.response, ai.<plugin>.usage.prompt_token / completion_token,
        # ai.<plugin>.meta.request_model / response_model / provider_name / llm_latency (the
        # request body needs ``logging.log_payloads``). Kong/kong kong/llm/drivers/shared.lua:
        # <plugin> is the plugin's name; later releases write usage.prompt_tokens and
        # <plugin>.payload.request. The file-log entry itself (developer.konghq.com/plugins/
        # file-log): started_at (epoch ms), client_ip, consumer, request.id, request.headers,
        # response.status, latencies.request.
        source="https://developer.konghq.com/ai-gateway/ai-audit-log-reference/",
        detect=(("ai/*/meta/request_model", "started_at"), ("ai/*/usage", "started_at")),
        fields={
            "request_id": ("request/id", "request/headers/x-kong-request-id"),
            "ts": ("started_at",),
            "account_id": ("consumer/id", "consumer/username", "authenticated_entity/id"),
            "model": ("ai/*/meta/request_model", "ai/payload/request/model",
                      "ai/*/payload/request/model"),
            "messages": ("ai/payload/request/messages|msgs", "ai/*/payload/request/messages|msgs"),
            "ip": ("client_ip",),
            "user_agent": ("request/headers/user-agent",),
            "status": ("response/status",),
            "latency_ms": ("latencies/request",),
            "input_tokens": ("ai/*/usage/prompt_tokens", "ai/*/usage/prompt_token"),
            "output_tokens": ("ai/*/usage/completion_tokens", "ai/*/usage/completion_token"),
            "max_tokens": ("ai/payload/request/max_tokens", "ai/*/payload/request/max_tokens"),
            "temperature": ("ai/payload/request/temperature",
                            "ai/*/payload/request/temperature"),
            "response_text": ("ai/*/payload/response/choices/0/message/content",),
        },
    ),
)

BY_NAME: dict[str, LogFormat] = {f.name: f for f in FORMATS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def get(name: str) -> LogFormat:
    """The format called ``name``; :class:`InvalidParameterError` names the known ones."""
    if name not in BY_NAME:
        raise InvalidParameterError(
            f"--format must be auto or one of {', '.join(NAMES)}; got {name!r}"
        )
    return BY_NAME[name]


def records_of(fmt: LogFormat, doc: Any) -> Iterable[Any]:
    """The records one stored document holds under ``fmt``."""
    return fmt.unwrap(doc) if fmt.unwrap is not None else (doc,)


def detect(*docs: Any) -> LogFormat:
    """The first format (in ``FORMATS`` order) whose ``detect`` paths a record of one of the
    documents carries; several documents because the first may hold no request (a Langfuse
    export starting with a SPAN row).

    Falls back to the contract: its validation then says what is missing.
    """
    for fmt in FORMATS:
        for doc in docs:
            first = next(iter(records_of(fmt, doc)), None)
            if matches(fmt, first):
                return fmt
    return BY_NAME["contract"]
