"""The data contract of ``docs/CONTRACT.md`` as code.

Field names are fixed; new optional fields may be added. This module is the single place
that names them: the request-log input fields, the normalised ``requests`` table every engine
stores, and the exact columns of every output file.
"""

from __future__ import annotations

import pyarrow as pa

# ---- 1. Request log (input) ----------------------------------------------------------------
REQUIRED_REQUEST_FIELDS: tuple[str, ...] = ("request_id", "ts", "account_id", "model", "messages")

# Optional input fields and the type each must have when present (JSON types).
OPTIONAL_REQUEST_FIELDS: dict[str, str] = {
    "system": "string",
    "org_id": "string",
    "api_key_id": "string",
    "session_id": "string",
    "ip": "string",
    "user_agent": "string",
    "country": "string",
    "payment_fingerprint": "string",
    "access_route": "string",
    "tools": "list<string>",
    "max_tokens": "number",
    "temperature": "number",
    "reasoning": "string|integer",
    "stream": "bool",
    "response_text": "string",
    "input_tokens": "integer",
    "output_tokens": "integer",
    "reasoning_tokens": "integer",
    "status": "integer",
    "latency_ms": "number",
}

ACCESS_ROUTE_PREFIXES: tuple[str, ...] = ("direct", "cloud:", "reseller:")

# ---- 2. Account table (input, optional) ----------------------------------------------------
ACCOUNT_FIELDS: tuple[str, ...] = (
    "account_id",
    "created_at",
    "signup_route",
    "verification",
    "email_domain",
    "payment_fingerprint",
    "country",
    "org_id",
)
SIGNUP_ROUTES: tuple[str, ...] = ("standard", "education", "research", "startup", "enterprise")
VERIFICATION_LEVELS: tuple[str, ...] = ("none", "email", "phone", "id", "business")

# ---- 3. Ground truth (benchmarks only) -----------------------------------------------------
LABEL_FIELDS: tuple[str, ...] = ("account_id", "is_attack", "campaign_id", "persona")
REQUEST_LABEL_FIELDS: tuple[str, ...] = ("request_id", "is_attack", "campaign_id")

# ---- 4. Detection output -------------------------------------------------------------------
VERDICTS: tuple[str, ...] = ("benign", "review", "attack")
OUTPUT_ACCOUNT_COLUMNS: tuple[str, ...] = ("account_id", "risk", "verdict", "cluster_id", "reasons")
OUTPUT_CLUSTER_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "n_accounts",
    "risk",
    "verdict",
    "capabilities",
    "reasons",
)
OUTPUT_REQUEST_COLUMNS: tuple[str, ...] = ("request_id", "account_id", "risk", "signals")
OUTPUT_FILES: tuple[str, ...] = (
    "accounts.csv",
    "clusters.csv",
    "requests.parquet",
    "report.html",
    "summary.json",
)
# ``signups.csv``: written when ``detect`` is given an account table (sign-up risk per
# account). ``risk_reference.json``: the deployment's distribution of every risk-model input
# feature, which the online service ranks one account against (docs/CONTRACT.md).
# ``account_reasons.csv``: each account's reasons with their sign (what raised, what lowered).
OPTIONAL_OUTPUT_FILES: tuple[str, ...] = (
    "signups.csv",
    "risk_reference.json",
    "account_reasons.csv",
)

# ---- The normalised request table every engine stores -------------------------------------
# Ingest turns each valid log record into one row of this schema. ``ts_ms`` is epoch
# milliseconds (UTC) so the same SQL runs on DuckDB and Spark without dialect-specific time
# functions. ``prompt_text`` is the text of the last user turn, ``system_text`` the system
# prompt (``system`` field or system-role messages); both are NULL under
# ``--no-content-retention`` once the text features below have been derived.
NORMALIZED_REQUEST_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("ts_ms", pa.int64()),
        ("account_id", pa.string()),
        ("model", pa.string()),
        ("org_id", pa.string()),
        ("api_key_id", pa.string()),
        ("session_id", pa.string()),
        ("ip", pa.string()),
        ("user_agent", pa.string()),
        ("country", pa.string()),
        ("payment_fingerprint", pa.string()),
        ("access_route", pa.string()),
        ("tools", pa.list_(pa.string())),
        ("max_tokens", pa.float64()),
        ("temperature", pa.float64()),
        ("reasoning", pa.string()),
        ("stream", pa.bool_()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("status", pa.int32()),
        ("latency_ms", pa.float64()),
        ("n_messages", pa.int32()),  # all messages sent, incl. earlier turns
        ("n_user_turns", pa.int32()),  # user messages: > 1 means a multi-turn session
        ("prompt_chars", pa.int32()),  # length of prompt_text
        ("prompt_text", pa.string()),
        ("system_text", pa.string()),
        ("extra", pa.string()),  # unknown input fields, kept as a JSON object
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)

# The harvest signals scored per request (column ``sig_<name>``, float32 in [0, 1]) and what a
# reviewer reads for each. The one list every layer (featurizer, account SQL, scoring, online
# state, console) derives its signal columns from.
HARVEST_SIGNALS: dict[str, str] = {
    "cot": "ask for step-by-step reasoning traces",  # chain-of-thought elicitation
    "rubric": "ask for rubric grading (model as judge)",  # the model as reward model
    "synth": "ask for synthetic training data",
    "format": "ask for training-data output formats",
    "rewrite": "rewrite sensitive questions",
}
SIGNAL_COLUMNS: tuple[str, ...] = tuple(f"sig_{s}" for s in HARVEST_SIGNALS)

# Columns the text featurizer (``distillguard.signals.featurize``) appends to each batch.
TEXT_FEATURE_SCHEMA = pa.schema(
    [
        *((c, pa.float32()) for c in SIGNAL_COLUMNS),
        ("signal_hits", pa.string()),  # "cot_elicitation:step by step|rubric_grading:score 1-10"
        ("capability", pa.string()),  # math, code, agentic, data_analysis, chat, other
        ("script", pa.string()),  # dominant writing system: latin, cjk, cyrillic, arabic, ...
        ("prompt_hash", pa.uint64()),  # hash of the normalised prompt
        ("system_hash", pa.uint64()),  # hash of the normalised system prompt (0 when none)
        ("skeleton_hash", pa.uint64()),  # hash of the prompt skeleton (slots abstracted)
        ("lsh_bands", pa.list_(pa.uint64())),  # MinHash LSH band keys of the skeleton
    ]
)

STORED_REQUEST_SCHEMA = pa.schema(list(NORMALIZED_REQUEST_SCHEMA) + list(TEXT_FEATURE_SCHEMA))


# ---- JSON Schema of a request record (docs/request.schema.json) ----------------------------
# The contract's types as JSON Schema. ``ts`` and ``messages`` take every form ingest reads
# (docs/CONTRACT.md §5): epoch numbers in any unit or digit strings, ISO 8601 text; a message
# list or a JSON string holding one.
_JSON_TYPES: dict[str, dict] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "bool": {"type": "boolean"},
    "string|integer": {"type": ["string", "integer"]},
    "list<string>": {
        "type": "array",
        "items": {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                {"type": "object", "required": ["function"]},
            ]
        },
    },
}
_PART = {"anyOf": [{"type": "string"}, {"type": "object"}]}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string"},
        "content": {"anyOf": [{"type": "string"}, {"type": "null"},
                              {"type": "array", "items": _PART}]},
        "parts": {"type": "array", "items": _PART},  # OpenTelemetry GenAI messages
    },
}


def request_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one request-log record (contract §1)."""
    props: dict[str, dict] = {
        "request_id": {"type": "string", "minLength": 1},
        "ts": {"anyOf": [
            {"type": "number", "description": "epoch seconds, ms, µs or ns"},
            {"type": "string", "description": "ISO 8601 (offset optional) or epoch digits"},
        ]},
        "account_id": {"type": "string", "minLength": 1},
        "model": {"type": "string", "minLength": 1},
        "messages": {"anyOf": [
            {"type": "array", "minItems": 1, "items": _MESSAGE},
            {"type": "string", "description": "a JSON string holding the list"},
        ]},
    }
    for name, kind in OPTIONAL_REQUEST_FIELDS.items():
        props[name] = dict(_JSON_TYPES[kind])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "distillguard request-log record (docs/CONTRACT.md §1)",
        "description": "Generated by distillguard.contract.request_json_schema(); do not edit.",
        "type": "object",
        "required": list(REQUIRED_REQUEST_FIELDS),
        "properties": props,
        "additionalProperties": True,  # unknown fields are kept, not dropped
    }


if __name__ == "__main__":  # python -m distillguard.contract > docs/request.schema.json
    import json

    print(json.dumps(request_json_schema(), indent=2, ensure_ascii=False))
