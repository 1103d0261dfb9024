"""An OpenAI-compatible proxy on Starlette with distillguard in front, as ASGI middleware.

    # scorer in-process (reads the batch results and writes audit/actions in DISTILLGUARD_DATA)
    UPSTREAM_URL=http://127.0.0.1:9000 DISTILLGUARD_DATA=./distillguard-data \
        python examples/gateway/asgi_proxy.py --port 8080

    # or a remote `distillguard serve` (fail-open after 25 ms)
    UPSTREAM_URL=... DISTILLGUARD_URL=http://127.0.0.1:8300 DISTILLGUARD_API_TOKEN=... \
        python examples/gateway/asgi_proxy.py --port 8080

Clients send ``X-Account-Id`` (in production the auth layer sets it from the API key).
"""

from __future__ import annotations

import argparse
import os

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from distillguard.online.asgi import DistillguardMiddleware
from distillguard.online.guard import LocalGuard, RemoteGuard
from distillguard.online.scorer import OnlineScorer


def create_proxy(
    upstream_url: str,
    guard: LocalGuard | RemoteGuard,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DistillguardMiddleware:
    """The proxy app (forwards chat completions upstream) wrapped by the middleware."""
    client = httpx.AsyncClient(base_url=upstream_url, transport=transport, timeout=60)

    async def forward(request: Request) -> Response:
        body = await request.body()
        req = client.build_request(
            "POST", request.url.path, content=body, headers={"content-type": "application/json"}
        )
        resp = await client.send(req, stream=True)
        ctype = resp.headers.get("content-type", "application/json")
        if "event-stream" in ctype:
            return StreamingResponse(
                resp.aiter_raw(), status_code=resp.status_code, media_type=ctype, background=None
            )
        data = await resp.aread()
        await resp.aclose()
        return Response(data, status_code=resp.status_code, media_type=ctype)

    app = Starlette(routes=[Route("/v1/chat/completions", forward, methods=["POST"])])
    metrics_route = Route(
        "/metrics", lambda r: Response(guard.metrics.render(), media_type="text/plain")
    )
    app.router.routes.append(metrics_route)
    return DistillguardMiddleware(app, guard=guard)


def guard_from_env() -> LocalGuard | RemoteGuard:
    if os.environ.get("DISTILLGUARD_URL"):
        return RemoteGuard(
            os.environ["DISTILLGUARD_URL"],
            os.environ["DISTILLGUARD_API_TOKEN"],
            timeout_ms=float(os.environ.get("DISTILLGUARD_TIMEOUT_MS", "25")),
            fail_mode=os.environ.get("DISTILLGUARD_FAIL_MODE", "open"),
        )
    return LocalGuard(
        OnlineScorer(
            os.environ.get("DISTILLGUARD_DATA", "distillguard-data"),
            os.environ.get("DISTILLGUARD_POLICY") or None,
        )
    )


if __name__ == "__main__":
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    uvicorn.run(
        create_proxy(os.environ["UPSTREAM_URL"], guard_from_env()), host=args.host, port=args.port
    )
