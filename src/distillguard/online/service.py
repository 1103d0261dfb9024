"""The scoring service (FastAPI): ``distillguard serve``.

Endpoints (``Authorization: Bearer <token>`` or ``X-API-Key``; admin ones need the admin token):

- ``POST /v1/score`` — one contract request record → ``{risk, action, reasons, account_risk,
  cluster_id, …}``. 422 names the bad field — unless the account already has a block, which
  is answered first. A body over ``max_body_bytes`` (up to ``OVERSIZE_FACTOR`` times that) is
  scored on the head and tail of its texts; only beyond that is it refused (413).
  By default (``request_signals: background``) the decision uses the verdict cache, the
  account's state and persisted actions, and the request is featurized and learned a few ms
  later in a background micro-batch; ``?sync=true`` (or ``request_signals: inline``) scores
  the request's own text signals before answering.
- ``POST /v1/check`` — the plain HTTP contract for any gateway (nginx ``auth_request``, Envoy
  ``ext_authz``, Kong): account in ``X-Account-Id``; with an OpenAI-style chat body it is
  scored in full, without one it is an O(1) precheck. Answers 200 (allow / log / degrade),
  403 (block / challenge) or 429 (rate_limit, with ``Retry-After``), and ``X-Distillguard-*``
  headers.
- ``POST /v1/events`` — after-the-fact usage / status events, in batches.
- ``GET /healthz`` (no auth), ``GET /metrics`` (Prometheus text).
- Admin: ``POST /v1/admin/appeal``, ``/v1/admin/policy/reload``, ``/v1/admin/results/reload``,
  ``/v1/admin/actions`` (apply), ``GET /v1/admin/actions``, ``GET /v1/admin/audit/verify``.

Prompt text is never logged; the audit log holds hashes unless ``log_prompt_text`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..errors import DistillguardError, InvalidInputError
from . import api_schema
from .metrics import CONTENT_TYPE
from .normalize import RecordError, bound_record
from .scorer import Decision, OnlineScorer
from .strict_json import JSONRejected, dumps_response, loads_strict

# Bodies up to this many times max_body_bytes are read and cut to a bounded head and tail
# (a padded prompt must not turn into a refusal, which a fail-open gateway would allow).
OVERSIZE_FACTOR = 8

# HTTP status a gateway should answer with, per enforced action (for /v1/check).
ACTION_STATUS: dict[str, int] = {
    "allow": 200,
    "log": 200,
    "degrade": 200,
    "rate_limit": 429,
    "challenge": 403,
    "block": 403,
}


class HTTPProblem(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with a status code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _same_token(given: str, expected: str) -> bool:
    """Constant-time comparison; as bytes, since a header may hold any latin-1 character
    (``hmac.compare_digest`` raises TypeError on non-ASCII strings: that was a 500)."""
    return hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode("utf-8"))


async def read_bytes(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) and an empty one (422)."""
    declared = request.headers.get("content-length")
    return await receive_bytes(
        None if declared is None else declared.encode("latin-1"), request.receive, limit
    )


def parse_json(body: bytes) -> Any:
    """``body`` as strict JSON (see :mod:`.strict_json`), or a 400 naming what is wrong."""
    try:
        return loads_strict(body)
    except JSONRejected as exc:
        raise HTTPProblem(400, exc.code, str(exc)) from None


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, refusing more than ``limit`` bytes (413) and bad JSON (400)."""
    return parse_json(await read_bytes(request, limit))


def chat_body_to_record(
    body: dict[str, Any],
    account_id: str,
    request_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    org_id: str | None = None,
    api_key_id: str | None = None,
) -> dict[str, Any]:
    """An OpenAI-compatible chat request body → a contract request record."""
    if not isinstance(body, dict):
        raise RecordError("body", "must be a JSON object (an OpenAI chat request)")
    rec: dict[str, Any] = {
        "request_id": request_id or body.get("request_id") or uuid.uuid4().hex,
        "ts": int(time.time() * 1000),
        "account_id": account_id,
        "model": body.get("model") or "unknown",
        "messages": body.get("messages"),
    }
    if rec["messages"] is None and isinstance(body.get("prompt"), str):
        rec["messages"] = [{"role": "user", "content": body["prompt"]}]
    for k, v in (
        ("ip", ip),
        ("user_agent", user_agent),
        ("org_id", org_id),
        ("api_key_id", api_key_id),
    ):
        if v:
            rec[k] = v
    for k in ("max_tokens", "temperature", "stream", "system"):
        if body.get(k) is not None:
            rec[k] = body[k]
    if body.get("max_completion_tokens") is not None and "max_tokens" not in rec:
        rec["max_tokens"] = body["max_completion_tokens"]
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort") or reasoning.get("budget_tokens")
    elif effort is None and isinstance(reasoning, (str, int)) and not isinstance(reasoning, bool):
        effort = reasoning
    if effort is not None:
        rec["reasoning"] = str(effort)
    tools = body.get("tools")
    if isinstance(tools, list):
        rec["tools"] = [
            str((t.get("function") or {}).get("name") or t.get("name") or "tool")
            if isinstance(t, dict)
            else str(t)
            for t in tools
        ]
    return rec


_DOCS_PAGE = """<!doctype html>
<html><head><title>distillguard scoring service</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({dom_id: "#ui", spec: __SPEC__});</script>
</body></html>"""


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with the bearer-token scheme every endpoint needs."""
    doc = app.openapi()
    doc.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    doc["security"] = [{"bearer": []}]
    return doc


class CountErrors:
    """ASGI wrapper counting every 4xx/5xx answer, whoever produced it, by status code."""

    def __init__(self, app: Any, metrics: Any) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.metrics.counter(
                    "distillguard_http_errors_total",
                    "4xx/5xx answers",
                    code=str(message["status"]),
                )
            await send(message)

        await self.app(scope, receive, counting_send if scope["type"] == "http" else send)


# The query strings of /v1/score the raw route answers, and the ``sync`` each means (the ones
# FastAPI's bool parsing gives); any other goes through FastAPI, which validates it.
_SCORE_QUERIES: dict[bytes, bool] = {
    b"": False,
    b"sync=true": True,
    b"sync=false": False,
    b"sync=1": True,
    b"sync=0": False,
}
_JSON_HEADER = (b"content-type", b"application/json")


class ScoreRoute:
    """``POST /v1/score`` as a raw ASGI route in front of FastAPI: the same steps and answers
    as the FastAPI route, without its routing, dependency solving and response classes (about
    half the CPU of a request). Anything else, and an unusual query string, goes to FastAPI.

    It sits inside :class:`CountErrors` (its 4xx are counted) and lets unexpected exceptions
    reach the app's 500 handler, as the FastAPI route does.
    """

    def __init__(self, app: Any, svc: _Service) -> None:
        self.app, self.svc = app, svc

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        sync = None
        if scope["type"] == "http" and scope["path"] == "/v1/score" and not scope.get("root_path"):
            sync = _SCORE_QUERIES.get(scope.get("query_string", b""))
        if sync is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        try:
            status, content = await self._answer(scope, receive, sync, t0)
        except HTTPProblem as exc:
            status, content = exc.status, {"error": {"code": exc.code, "message": exc.message}}
        body = dumps_response(content)
        headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADER]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: dict, receive: Any, sync: bool, t0: float
    ) -> tuple[int, dict[str, Any]]:
        svc = self.svc
        headers = _first_headers(scope["headers"])
        svc.check_api_token(_raw_token(headers))
        limit = svc.scorer.policy.online.max_body_bytes
        raw = await receive_bytes(headers.get(b"content-length"), receive, limit * OVERSIZE_FACTOR)
        return await svc.score_answer(svc.bounded(raw, limit), sync, t0)


def _telemetry_off() -> dict[str, Any]:
    """FastAPI's native OpenTelemetry switched off when nothing would receive it: no provider
    configured when the app is built, and FastAPI not asked to configure one
    (``FASTAPI_OTEL_AUTO_CONFIGURE``). Otherwise FastAPI asks the global providers on every
    request whether one was configured since: ~6 µs of a ~45 µs ``/v1/score`` answer."""
    try:  # FastAPI >= 0.165; its own test, as FastAPI(telemetry=...) defaults would run it
        from fastapi.telemetry._asgi import NativeTelemetry

        if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
            return {}
        probe = {"tracing": True, "metrics": True, "logs": True}
        providers = dict.fromkeys(("tracer_provider", "meter_provider", "logger_provider"))
        if NativeTelemetry({**providers, **probe}).enabled():  # type: ignore[arg-type]
            return {}
    except Exception:  # another FastAPI: leave its defaults alone
        return {}
    return {"telemetry": dict.fromkeys(probe, False)}


def _first_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The first value of each header (as Starlette's ``Headers.get``; names are lower case
    in ASGI)."""
    out: dict[bytes, bytes] = {}
    for k, v in raw:
        out.setdefault(k, v)
    return out


def _raw_token(headers: dict[bytes, bytes]) -> str | None:
    """:func:`_token_of` on raw ASGI headers (latin-1, as Starlette decodes them)."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key = headers.get(b"x-api-key")
    return None if key is None else key.decode("latin-1")


async def receive_bytes(declared: bytes | None, receive: Any, limit: int) -> bytes:
    """The body from an ASGI ``receive``, refusing more than ``limit`` bytes (413, also when
    the ``declared`` Content-Length says so), a bad Content-Length (400) and an empty body
    (422); a disconnect raises Starlette's ``ClientDisconnect`` as ``Request.stream`` does."""
    if declared is not None:
        try:
            if int(declared.decode("latin-1")) > limit:
                raise HTTPProblem(413, "body_too_large", f"request body over {limit} bytes")
        except ValueError:
            raise HTTPProblem(400, "bad_request", "invalid Content-Length") from None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, "body_too_large", f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not body:
        raise HTTPProblem(422, "invalid_record", "request body is empty; send a JSON object")
    return body


def install_error_handlers(app: FastAPI, metrics: Any) -> None:
    """Every error is ``{"error": {"code", "message"}}`` JSON, and every one is counted.

    4xx answers are counted by :class:`CountErrors`; an unexpected exception is answered by
    Starlette's outermost middleware, outside it, so its handler counts the 500 itself.
    """

    @app.exception_handler(HTTPProblem)
    async def _problem_handler(request: Request, exc: HTTPProblem) -> JSONResponse:
        return _problem(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("query", "body"))
        return _problem(400, "invalid_parameter", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash_handler(request: Request, exc: Exception) -> JSONResponse:
        metrics.counter("distillguard_http_errors_total", "4xx/5xx answers", code="500")
        return _problem(500, "internal_error", f"unexpected {type(exc).__name__}")

    app.add_middleware(CountErrors, metrics=metrics)


def _ids(body: Any) -> tuple[Any, Any]:
    """``(account_id, request_id)`` of a record body, whatever their types (None if absent)."""
    if not isinstance(body, dict):
        return None, None
    return body.get("account_id"), body.get("request_id")


# Upper bounds of event fields: more would be a client bug or an attempt to skew the state.
_EVENT_BOUNDS: dict[str, int] = {
    "input_tokens": 10**8,
    "output_tokens": 10**8,
    "reasoning_tokens": 10**8,
    "status": 999,
}


def _validate_events(payload: Any, max_events: int) -> list[dict[str, Any]]:
    events = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(events, list):
        raise HTTPProblem(422, "invalid_events", 'send a JSON list of events or {"events": [...]}')
    if len(events) > max_events:
        raise HTTPProblem(
            413, "too_many_events", f"{len(events)} events; at most {max_events} per batch"
        )
    out = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise HTTPProblem(422, "invalid_events", f"events[{i}]: must be an object")
        if not isinstance(ev.get("account_id"), str) or not ev["account_id"]:
            raise HTTPProblem(422, "invalid_events", f"events[{i}].account_id: required string")
        for k, top in _EVENT_BOUNDS.items():
            v = ev.get(k)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top
            ):
                raise HTTPProblem(
                    422, "invalid_events", f"events[{i}].{k}: must be an integer in [0, {top}]"
                )
        out.append(ev)
    return out


def create_app(
    scorer: OnlineScorer,
    api_token: str,
    admin_token: str | None = None,
    watch_interval_s: float = 2.0,
) -> FastAPI:
    """The FastAPI app around one :class:`OnlineScorer`; ``api_token`` is required."""
    if not api_token:
        raise InvalidInputError("the scoring API needs a token (--token or DISTILLGUARD_API_TOKEN)")
    svc = _Service(scorer, api_token, admin_token)
    app = FastAPI(
        title="distillguard scoring service",
        lifespan=_watcher(scorer, watch_interval_s),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **_telemetry_off(),
    )
    app.state.scorer = scorer
    app.add_middleware(ScoreRoute, svc=svc)  # added first: CountErrors wraps it
    install_error_handlers(app, scorer.metrics)
    app.include_router(_open_routes(svc))
    app.include_router(_gateway_routes(svc))  # they check the token themselves: see there
    app.include_router(_api_routes(svc), dependencies=[Depends(svc.api_caller)])
    app.include_router(_admin_routes(svc), dependencies=[Depends(svc.admin_caller)])
    return app


def _watcher(scorer: OnlineScorer, interval_s: float) -> Callable[[FastAPI], Any]:
    """The app's lifespan: pick up policy file edits and actions written by other processes
    (the console) every ``interval_s``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def watch() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    res = scorer.policy.maybe_reload()
                    if res is not None:
                        scorer.metrics.counter(
                            "distillguard_policy_reloads_total",
                            "policy reload attempts",
                            result="ok" if res[0] else "rejected",
                        )
                    scorer.refresh_actions()
                except Exception:  # the watcher must never die; next tick retries
                    scorer.metrics.counter(
                        "distillguard_watch_errors_total", "background refresh errors"
                    )

        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


class _Service:
    """What every route shares: the scorer, the tokens (one dependency per caller kind) and
    the steps the scoring routes have in common. The dependencies are ``async``: FastAPI runs
    a plain ``def`` one in its thread pool, which tripled the CPU of a ``/v1/score``."""

    def __init__(self, scorer: OnlineScorer, api_token: str, admin_token: str | None) -> None:
        self.scorer, self.metrics = scorer, scorer.metrics
        self.api_token, self.admin_token = api_token, admin_token

    async def api_caller(self, request: Request) -> str:
        """Dependency of the scoring routes: the API token (the admin token also works)."""
        return self.check_api_token(_token_of(request))

    def check_api_token(self, given: str | None) -> str:
        """``"api"`` for the API (or admin) token, else a 401."""
        tok = self._need(given)
        if _same_token(tok, self.api_token) or (
            self.admin_token and _same_token(tok, self.admin_token)
        ):
            return "api"
        raise HTTPProblem(401, "unauthorized", "invalid token")

    async def admin_caller(self, request: Request) -> str:
        """Dependency of the admin routes: the admin token only."""
        tok = self._token(request)
        if self.admin_token and _same_token(tok, self.admin_token):
            return "admin"
        if _same_token(tok, self.api_token):
            raise HTTPProblem(403, "forbidden", "this endpoint needs the admin token")
        raise HTTPProblem(401, "unauthorized", "invalid token")

    @staticmethod
    def _token(request: Request) -> str:
        return _Service._need(_token_of(request))

    @staticmethod
    def _need(tok: str | None) -> str:
        if not tok:
            raise HTTPProblem(
                401, "unauthorized", "missing token: send Authorization: Bearer <token>"
            )
        return tok

    def fail(self, exc: Exception, request_id: str, account_id: str) -> JSONResponse:
        """Scorer trouble (e.g. Redis down): answer per fail_mode, and raise the alert metric."""
        status, content = self.fail_answer(exc, request_id, account_id)
        return JSONResponse(content, status_code=status)

    def fail_answer(
        self, exc: Exception, request_id: str, account_id: str
    ) -> tuple[int, dict[str, Any]]:
        """:meth:`fail` as ``(status, JSON content)``."""
        mode = self.scorer.policy.online.fail_mode
        self.metrics.counter(
            "distillguard_fail_open_total" if mode == "open" else "distillguard_fail_closed_total",
            "requests answered without a score",
            reason=type(exc).__name__,
        )
        if mode == "closed":
            msg = f"scoring failed ({type(exc).__name__}); fail-closed"
            return 503, {"error": {"code": "scorer_unavailable", "message": msg}}
        d = Decision(
            request_id=request_id,
            account_id=account_id,
            action="allow",
            risk=0.0,
            account_risk=0.0,
            cluster_id=None,
            source="fail_open",
            reasons=[f"scorer error ({type(exc).__name__}); fail-open"],
            policy_version=self.scorer.policy.version,
        )
        return 200, d.to_dict()

    def known_block(self, account: Any, request_id: Any) -> Decision | None:
        """A block or challenge the account already has (persisted or from the verdict cache)."""
        if not isinstance(account, str) or not account.strip():
            return None
        d = self.scorer.precheck(account, request_id if isinstance(request_id, str) else "")
        return d if d.action in ("block", "challenge") else None

    async def read_record(self, request: Request) -> Any:
        """A record or chat body; an oversized one is cut to a bounded head and tail."""
        limit = self.scorer.policy.online.max_body_bytes
        return self.bounded(await read_bytes(request, limit * OVERSIZE_FACTOR), limit)

    def bounded(self, raw: bytes, limit: int) -> Any:
        """``raw`` parsed; over ``limit`` bytes, cut to a bounded head and tail."""
        body = parse_json(raw)
        if len(raw) > limit and isinstance(body, dict):
            body, _ = bound_record(body, limit)
            self.metrics.counter(
                "distillguard_truncated_total", "oversized records scored on head and tail"
            )
        return body

    async def read_check_body(self, request: Request) -> Any:
        """The optional chat body of /v1/check, bounded like /v1/score's records."""
        h = request.headers
        if h.get("content-length") in (None, "0") and not h.get("transfer-encoding"):
            return None
        return await self.read_record(request)

    async def decide(self, record: Any, inline: bool) -> Decision:
        """The record's decision; a bad record does not lift a block the account already
        has (422 otherwise). An inline score is awaited: with a memory state a learner
        process scores it, and the event loop answers others meanwhile."""
        try:
            return await self.scorer.score_async(record) if inline else self.scorer.assess(record)
        except DistillguardError as exc:
            known = self.known_block(*_ids(record))
            if known is None:
                raise HTTPProblem(422, "invalid_record", str(exc)) from None
            return known

    async def score_answer(self, body: Any, sync: bool, t0: float) -> tuple[int, dict[str, Any]]:
        """The /v1/score answer to a parsed body: ``(status, JSON content)``."""
        try:
            inline = sync or self.scorer.policy.online.request_signals == "inline"
            d = await self.decide(body, inline)
        except HTTPProblem:
            raise
        except Exception as exc:
            rid, acct = _ids(body)[::-1]
            return self.fail_answer(exc, str(rid or ""), str(acct or ""))
        self.timed("/v1/score", t0)
        return 200, d.to_dict()

    def timed(self, endpoint: str, t0: float) -> None:
        self.metrics.observe(
            "distillguard_http_seconds",
            "HTTP handler latency",
            time.perf_counter() - t0,
            endpoint=endpoint,
        )

    def check_answer(self, d: Decision, t0: float) -> JSONResponse:
        """The /v1/check answer: a status per action and ``X-Distillguard-*`` headers."""
        self.timed("/v1/check", t0)
        headers = {
            "X-Distillguard-Action": d.action,
            "X-Distillguard-Risk": f"{d.risk:.4f}",
            "X-Distillguard-Rule": d.rule or "",
        }
        if d.retry_after_s is not None and d.action == "rate_limit":
            headers["Retry-After"] = str(max(1, int(round(d.retry_after_s))))
        return JSONResponse(d.to_dict(), status_code=ACTION_STATUS[d.action], headers=headers)


def _open_routes(svc: _Service) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        scorer = svc.scorer
        return {
            "status": "ok",
            "policy_version": scorer.policy.version,
            "shadow": scorer.shadow,
            "state": scorer.state.kind,
            "fail_mode": scorer.policy.online.fail_mode,
            "text_features": scorer.text_features_available,
            "policy_error": scorer.policy.last_error,
            "results": scorer.cache.summary(),
        }

    return router


def _gateway_routes(svc: _Service) -> APIRouter:
    """The per-request routes a gateway waits on. Each checks the token itself: as a FastAPI
    dependency the check cost 25-60 µs of a ~220 µs request (dependency solving)."""
    router = APIRouter()
    scorer = svc.scorer

    @router.post("/v1/score", openapi_extra=api_schema.body(api_schema.RECORD))
    async def score(request: Request, sync: bool = False) -> Response:
        t0 = time.perf_counter()
        await svc.api_caller(request)
        status, content = await svc.score_answer(await svc.read_record(request), sync, t0)
        return JSONResponse(content, status_code=status)

    @router.get("/v1/check", operation_id="check_get")
    @router.post(
        "/v1/check",
        operation_id="check_post",
        openapi_extra=api_schema.body(api_schema.CHAT, False),
    )
    async def check(request: Request, learn_only: bool = False) -> Response:
        t0 = time.perf_counter()
        await svc.api_caller(request)
        h = request.headers
        acct = h.get("x-account-id")
        if not acct:
            raise HTTPProblem(422, "invalid_record", "X-Account-Id header is required")
        rid = h.get("x-request-id") or uuid.uuid4().hex
        try:
            body = await svc.read_check_body(request)
        except HTTPProblem:
            # A body we cannot read does not lift a block the account already has.
            d = svc.known_block(acct, rid)
            if d is None:
                raise
            return svc.check_answer(d, t0)
        try:
            if isinstance(body, dict) and ("messages" in body or "prompt" in body):
                rec = _check_record(body, acct, rid, h)
                if learn_only:  # a mirrored copy (nginx `mirror`): learn it, decide nothing
                    scorer.learn(rec)
                    return Response(status_code=204)
                d = await svc.decide(rec, scorer.policy.online.request_signals == "inline")
            else:
                d = scorer.precheck(acct, rid, org_id=h.get("x-org-id"))
        except HTTPProblem:
            raise
        except DistillguardError as exc:  # a chat body that is not a record
            d = svc.known_block(acct, rid)
            if d is None:
                raise HTTPProblem(422, "invalid_record", str(exc)) from None
        except Exception as exc:
            return svc.fail(exc, rid, acct)
        return svc.check_answer(d, t0)

    return router


def _api_routes(svc: _Service) -> APIRouter:
    router = APIRouter()
    scorer = svc.scorer

    @router.get("/metrics")
    async def metrics_endpoint() -> PlainTextResponse:
        return PlainTextResponse(svc.metrics.render(), media_type=CONTENT_TYPE)

    @router.post("/v1/events", openapi_extra=api_schema.body(api_schema.EVENTS))
    async def events(request: Request) -> dict[str, Any]:
        on = scorer.policy.online
        payload = await read_json(request, on.max_body_bytes * 16)
        evs = _validate_events(payload, on.max_batch_events)
        try:
            n = scorer.learn_events(evs)
        except Exception as exc:
            svc.metrics.counter(
                "distillguard_fail_open_total",
                "requests answered without a score",
                reason=type(exc).__name__,
            )
            raise HTTPProblem(
                503, "state_unavailable", f"could not record events: {type(exc).__name__}"
            ) from None
        svc.metrics.counter("distillguard_events_total", "after-the-fact events learned", value=n)
        return {"accepted": n}

    @router.post("/v1/signup")
    async def signup(request: Request) -> dict[str, Any]:
        """Score a new account at creation: allow, step_up or manual_review (per route)."""
        body = await read_json(request, 65536)
        try:
            out = _signup_service(request.app, scorer).assess(body)
        except DistillguardError as exc:
            raise HTTPProblem(422, "invalid_signup", str(exc)) from None
        _note_signup(scorer, body, out)
        if out["action"] != "allow":
            scorer.audit.append(f"signup_{out['action']}", "account", out["account_id"],
                                "signup", "; ".join(out["reasons"]),
                                policy_version=scorer.policy.version)
        return out

    return router


def _check_record(body: dict[str, Any], acct: str, rid: str, h: Any) -> dict[str, Any]:
    """A /v1/check chat body and its ``X-*`` headers as a contract record."""
    return chat_body_to_record(
        body,
        acct,
        rid,
        ip=h.get("x-client-ip") or h.get("x-forwarded-for"),
        user_agent=h.get("x-client-user-agent"),
        org_id=h.get("x-org-id"),
        api_key_id=h.get("x-api-key-id"),
    )


def _note_signup(scorer: OnlineScorer, body: dict[str, Any], out: dict[str, Any]) -> None:
    """The sign-up waves the account was opened in join its requests' linkage keys: they
    corroborate a card or network link, never act alone (``online/linkage.signup_keys``)."""
    if not scorer.policy.policy.linkage.enabled:
        return
    from .linkage import signup_keys

    # the wave's day is the time the sign-up was scored at, never the client's created_at
    # (which a caller could set to keep its accounts out of a shared wave)
    attrs = {**body, "created_ms": out["created_ms"]}
    scorer.linked.index.note_signup(out["account_id"], signup_keys(attrs, out.get("evidence") or {}))


def _signup_service(app: FastAPI, scorer: OnlineScorer) -> Any:
    """The app's sign-up scorer, built on first use (it reads the batch store)."""
    service = getattr(app.state, "signup", None)
    if service is None:
        from ..signup.online import SignupService

        flagged = {a for a, v in scorer.cache.accounts.items() if v.verdict != "benign"}
        service = app.state.signup = SignupService(
            scorer.data_dir, flagged, scorer.policy.policy.signup.table()
        )
    return service


def _admin_routes(svc: _Service) -> APIRouter:
    router = APIRouter()
    scorer = svc.scorer

    @router.post("/v1/admin/appeal", openapi_extra=api_schema.body(api_schema.APPEAL))
    async def appeal(request: Request) -> dict[str, Any]:
        body = await read_json(request, 65536)
        if not isinstance(body, dict) or not body.get("account_id") or not body.get("reason"):
            raise HTTPProblem(422, "invalid_request", "send {account_id, reason[, actor, allow]}")
        return scorer.appeal(
            str(body["account_id"]),
            actor=str(body.get("actor") or "admin-api"),
            reason=str(body["reason"]),
            allow=bool(body.get("allow", True)),
        )

    @router.post("/v1/admin/challenge/passed")
    async def challenge_passed(request: Request) -> dict[str, Any]:
        """The gateway's verification step said the caller passed: challenges answered."""
        b = await read_json(request, 65536)
        if not isinstance(b, dict) or not b.get("account_id") or not b.get("method"):
            raise HTTPProblem(
                422, "invalid_request", "send {account_id, method[, actor, reason, expires_s]}"
            )
        exp = b.get("expires_s")
        try:
            return scorer.challenge_passed(
                str(b["account_id"]),
                actor=str(b.get("actor") or "admin-api"),
                method=str(b["method"]),
                reason=str(b.get("reason") or ""),
                expires_s=None if exp is None else float(exp),
            )
        except (DistillguardError, TypeError, ValueError) as exc:
            raise HTTPProblem(422, "invalid_request", str(exc)) from None

    @router.post("/v1/admin/policy/reload")
    async def policy_reload() -> JSONResponse:
        ok, msg = scorer.reload_policy()
        return JSONResponse(
            {"ok": ok, "message": msg, "policy_version": scorer.policy.version},
            status_code=200 if ok else 422,
        )

    @router.post("/v1/admin/results/reload")
    async def results_reload() -> JSONResponse:
        try:
            # Reading a large store takes a while: keep answering requests meanwhile.
            summary = await asyncio.to_thread(scorer.reload_results)
        except DistillguardError as exc:
            return _problem(422, "results_not_reloaded", f"keeping the old verdict cache: {exc}")
        return JSONResponse({"ok": True, "results": summary})

    @router.post("/v1/admin/actions", openapi_extra=api_schema.body(api_schema.ACTION))
    async def apply_action(request: Request) -> dict[str, Any]:
        b = await read_json(request, 65536)
        if not isinstance(b, dict):
            raise HTTPProblem(422, "invalid_request", "send a JSON object")
        try:
            exp = b.get("expires_s")
            aid = scorer.actions.apply(
                str(b.get("subject_kind", "account")),
                str(b.get("subject_id") or ""),
                str(b.get("action") or ""),
                actor=str(b.get("actor") or "admin-api"),
                reason=str(b.get("reason") or ""),
                expires_at=None if exp is None else time.time() + float(exp),
                params=b.get("params") or {},
            )
        except (DistillguardError, TypeError, ValueError) as exc:
            raise HTTPProblem(422, "invalid_request", str(exc)) from None
        scorer.refresh_actions(force=True)
        return {"action_id": aid}

    @router.get("/v1/admin/actions")
    async def list_actions(subject_id: str | None = None) -> dict[str, Any]:
        return {"active": scorer.actions.active(subject_id)}

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document(request.app))

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # The spec is embedded: the browser's own fetch of /openapi.json would carry no token.
        spec = json.dumps(openapi_document(request.app)).replace("</", "<\\/")
        return HTMLResponse(_DOCS_PAGE.replace("__SPEC__", spec))

    @router.get("/v1/admin/audit/verify")
    async def audit_verify() -> dict[str, Any]:
        r = scorer.audit.verify()
        return {
            "ok": r.ok,
            "n_entries": r.n_entries,
            "first_bad_seq": r.first_bad_seq,
            "message": r.message,
        }

    return router
