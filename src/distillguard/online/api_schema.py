"""JSON Schemas of the scoring service's request bodies, for ``/openapi.json``.

The handlers read raw bodies (strictly, see :mod:`.strict_json`) and validate them
themselves, so that every refusal is the service's own ``{"error": …}`` answer and nothing
changes before validation passed. These schemas only *describe* the bodies, so that clients
and fuzzers (``tests/online/test_fuzz.py``) can read the API. The record schema is built
from ``contract.py``, the one place that names the fields.
"""

from __future__ import annotations

from typing import Any

from ..contract import OPTIONAL_REQUEST_FIELDS, REQUIRED_REQUEST_FIELDS

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "bool": {"type": "boolean"},
    "list<string>": {"type": "array", "items": {"type": "string"}},
    "string|integer": {"type": ["string", "integer"]},
}

MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {"role": {"type": "string"}, "content": {"type": ["string", "array", "null"]}},
}

RECORD: dict[str, Any] = {
    "type": "object",
    "required": list(REQUIRED_REQUEST_FIELDS),
    "properties": {
        "request_id": {"type": "string", "minLength": 1},
        "ts": {
            "type": ["string", "integer"],
            "description": "RFC 3339 with offset, or epoch ms",
        },
        "account_id": {"type": "string", "minLength": 1},
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        **{name: _JSON_TYPES[kind] for name, kind in OPTIONAL_REQUEST_FIELDS.items()},
    },
}

CHAT: dict[str, Any] = {
    "type": "object",
    "description": "an OpenAI-compatible chat request body",
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "items": MESSAGE},
        "prompt": {"type": "string"},
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "stream": {"type": "boolean"},
    },
}

EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["account_id"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "request_id": {"type": "string"},
        "input_tokens": {"type": "integer", "minimum": 0},
        "output_tokens": {"type": "integer", "minimum": 0},
        "reasoning_tokens": {"type": "integer", "minimum": 0},
        "status": {"type": "integer", "minimum": 0},
    },
}

EVENTS: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": EVENT},
        {
            "type": "object",
            "required": ["events"],
            "properties": {"events": {"type": "array", "items": EVENT}},
        },
    ]
}

APPEAL: dict[str, Any] = {
    "type": "object",
    "required": ["account_id", "reason"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "reason": {"type": "string", "minLength": 1},
        "actor": {"type": "string"},
        "allow": {"type": "boolean"},
    },
}

ACTION: dict[str, Any] = {
    "type": "object",
    "required": ["subject_id", "action", "reason"],
    "properties": {
        "subject_kind": {"enum": ["request", "account", "cluster"]},
        "subject_id": {"type": "string", "minLength": 1},
        "action": {"type": "string"},
        "reason": {"type": "string"},
        "actor": {"type": "string"},
        "expires_s": {"type": "number", "exclusiveMinimum": 0},
        "params": {"type": "object"},
    },
}


def body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON request body with ``schema``."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }
