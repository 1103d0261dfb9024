"""A tiny OpenAI-compatible upstream for the gateway examples and tests.

``POST /v1/chat/completions`` answers with a fixed completion that carries a
``reasoning_content`` field (what ``degrade`` withholds) and usage; ``stream: true`` answers as
server-sent events. Run: ``uvicorn fake_openai_upstream:app --port 9000``.
"""

from __future__ import annotations

import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

CALLS: list[dict] = []  # what the upstream received (tests read it)


def completion(model: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "The answer is 4.",
                    "reasoning_content": "First, 2 + 2: two units and two units make four units...",
                },
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 48,
            "total_tokens": 60,
            "completion_tokens_details": {"reasoning_tokens": 40},
        },
    }


async def chat(request: Request) -> JSONResponse | StreamingResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):  # as OpenAI does: a 400, not a crash
        return JSONResponse(
            {"error": {"message": "request body is not a JSON object", "type": "invalid_request"}},
            status_code=400,
        )
    CALLS.append(body)
    model = body.get("model", "fake-model")
    if body.get("stream"):

        async def events():
            for delta in (
                {"role": "assistant", "reasoning_content": "two and two..."},
                {"content": "The answer "},
                {"content": "is 4."},
            ):
                chunk = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
    return JSONResponse(completion(model))


async def models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models),
    ]
)
