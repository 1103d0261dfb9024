"""ASGI middleware for OpenAI-compatible proxies built on Starlette / FastAPI.

::

    from distillguard.online.asgi import DistillguardMiddleware
    from distillguard.online.guard import LocalGuard, RemoteGuard

    app.add_middleware(DistillguardMiddleware, guard=RemoteGuard(url, token, timeout_ms=25))

For each ``POST`` to a chat/completions path it builds a contract record from the body and
the caller, asks the guard and enforces the answer.

**Identity** comes from a configured *authenticated* source, ``account_resolver``: by default
the ``X-Account-Id`` header, which the gateway's auth layer must set (and strip from client
requests); :func:`api_key_account_resolver` uses a hash of the caller's API key instead. A
request that source does not identify is **not** passed through: it is scored under a hash
of its API key, else its client address (``key:…`` / ``ip:…``), logged, and counted in
``distillguard_unidentified_total{integration="asgi", by=…}``. A body that is not a JSON
object is decided too (the account's known block, else the guard's fail mode), not waved on.

Enforcement: ``block`` / ``challenge`` → 403, ``rate_limit`` → 429 with
``Retry-After``, both as OpenAI-style error bodies (with ``X-Distillguard-Action``);
``degrade`` → the request is served but reasoning fields are withheld from the answer (JSON
and server-sent-event streams); ``allow`` / ``log`` pass. After the response, usage and
status go to the guard as an event and, for a local guard, the full scoring runs off the hot
path.

Markers: a served answer carries ``X-Distillguard-Action: degrade`` and
``X-Distillguard-Degraded`` only when it was *visibly* degraded. A silent degrade (the
decision's ``params.silent``: the policy's ``linkage.silent_degrade``, and every delayed
account action) carries neither, and neither does an allowed answer, so the two look alike to
the caller: an attacker cannot watch a header to learn where the line is. The audit (the
scorer's, and for a local guard the ``degrade_transform`` entry, with ``silent``) still
records what was done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from .guard import LocalGuard, RemoteGuard
from .service import chat_body_to_record

log = logging.getLogger(__name__)
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

REASONING_FIELDS: tuple[str, ...] = (
    "reasoning_content",
    "reasoning",
    "reasoning_details",
    "thinking",
)
DEFAULT_PATHS: tuple[str, ...] = (
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/v1/responses",
)


def header_account_resolver(scope: Scope, headers: Mapping[str, str]) -> str | None:
    """Default: the account id in ``X-Account-Id`` (set by the auth layer in front)."""
    return headers.get("x-account-id") or None


def header_org_resolver(scope: Scope, headers: Mapping[str, str]) -> str | None:
    """``X-Org-Id``: trusted only where the auth layer sets (and strips) the identity headers."""
    return headers.get("x-org-id") or None


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The caller's API key (``Authorization: Bearer …`` or ``X-API-Key``), if any."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key") or None


def key_account(key: str) -> str:
    """A stable account id for an API key that never reveals the key."""
    return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def api_key_account_resolver(scope: Scope, headers: Mapping[str, str]) -> str | None:
    """The account is the caller's API key (hashed): for proxies that authenticate keys."""
    key = api_key_of(headers)
    return key_account(key) if key else None


def strip_reasoning(payload: Any) -> Any:
    """Remove reasoning fields from an OpenAI chat response / stream chunk (in place)."""
    if isinstance(payload, dict):
        for choice in payload.get("choices") or []:
            if isinstance(choice, dict):
                for part in ("message", "delta"):
                    msg = choice.get(part)
                    if isinstance(msg, dict):
                        for f in REASONING_FIELDS:
                            msg.pop(f, None)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict):
                details.pop("reasoning_tokens", None)
    return payload


def is_silent(decision: Mapping[str, Any]) -> bool:
    """True when the decision asks for no marker the caller can see (``params.silent``)."""
    params = decision.get("params")
    return isinstance(params, Mapping) and bool(params.get("silent"))


def _openai_error(
    status: int, kind: str, message: str, decision: Mapping[str, Any]
) -> tuple[bytes, list]:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": kind,
                "code": decision.get("action"),
                "param": None,
                "request_id": decision.get("request_id"),
            }
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-distillguard-action", str(decision.get("action")).encode()),
    ]
    if status == 429:
        retry = decision.get("retry_after_s") or 1
        headers.append((b"retry-after", str(max(1, int(round(float(retry))))).encode()))
    return body, headers


# Refused calls: action → (status, OpenAI error type, message).
REFUSALS: dict[str, tuple[int, str, str]] = {
    "block": (
        403,
        "access_blocked",
        "This account's access has been suspended under the provider's usage policy.",
    ),
    "challenge": (
        403,
        "verification_required",
        "Additional account verification is required before continuing.",
    ),
    "rate_limit": (
        429,
        "rate_limit_exceeded",
        "Rate limit exceeded for this account; retry later.",
    ),
}


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


class _AnswerRewriter:
    """The app's answer on its way out: passed as is, or degraded (reasoning withheld, the
    countermeasures applied), with a marker only when the degrade is visible."""

    def __init__(
        self, mw: DistillguardMiddleware, record: dict[str, Any], decision: Mapping[str, Any]
    ) -> None:
        self.mw, self.record = mw, record
        self.degrade = decision.get("action") == "degrade"
        self.silent = self.degrade and is_silent(decision)
        self.captured: dict[str, Any] = {"status": 0, "body": [], "stream": False}

    def sender(self, send: Send) -> Send:
        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await self._start(message, send)
            elif message["type"] == "http.response.body":
                await self._body(message, send)
            else:
                await send(message)

        return rewrite

    async def _start(self, message: dict[str, Any], send: Send) -> None:
        # The model has answered: the full decision (with this request's own signals) is
        # normally ready by now and may ask to degrade the answer.
        if not self.degrade:
            late = await self.mw.guard.late_decision(self.record["request_id"])
            if late is not None and late.get("action") == "degrade":
                self.degrade, self.silent = True, is_silent(late)
        self.captured["status"] = message["status"]
        hdrs = list(message.get("headers", []))
        ctype = next((v for k, v in hdrs if k.lower() == b"content-type"), b"")
        self.captured["stream"] = b"event-stream" in ctype
        if self.degrade and not self.silent:  # visible: say so; allowed and silent: nothing
            hdrs.append((b"x-distillguard-action", b"degrade"))
        if self.degrade and not self.captured["stream"]:
            # The body will change length: hold the start until we have it.
            self.captured["start"] = {
                **message,
                "headers": [(k, v) for k, v in hdrs if k.lower() != b"content-length"],
            }
            return
        await send({**message, "headers": hdrs})

    async def _body(self, message: dict[str, Any], send: Send) -> None:
        chunk = message.get("body", b"")
        if self.captured["stream"]:
            if self.degrade:
                chunk = self.mw._degrade_sse(chunk)
            self.captured["body"].append(chunk)
            await send({**message, "body": chunk})
            return
        self.captured["body"].append(chunk)
        if not self.degrade:
            await send(message)
        elif not message.get("more_body", False):
            await self._send_degraded(send)

    async def _send_degraded(self, send: Send) -> None:
        raw = b"".join(self.captured["body"])
        done, cm, account = (
            ["reasoning-withheld"],
            self.mw.countermeasures,
            self.record["account_id"],
        )
        try:
            answer = strip_reasoning(json.loads(raw))
            if cm is not None:
                done += cm.transform_response(answer, account)
            out = json.dumps(answer).encode()
        except (json.JSONDecodeError, UnicodeDecodeError):
            out = raw
        for what in done[1:]:
            self.mw._count(what)
        self.mw._audit(account, done, self.silent)
        start = self.captured.pop("start")
        start["headers"].append((b"content-length", str(len(out)).encode()))
        if not self.silent:
            start["headers"].append((b"x-distillguard-degraded", ",".join(done).encode()))
        await send(start)
        await send({"type": "http.response.body", "body": out, "more_body": False})


class DistillguardMiddleware:
    """Pure ASGI middleware: score, enforce, then report usage (see module docstring)."""

    def __init__(
        self,
        app: Callable,
        guard: LocalGuard | RemoteGuard,
        account_resolver: Callable[
            [Scope, Mapping[str, str]], str | None
        ] = header_account_resolver,
        paths: Iterable[str] = DEFAULT_PATHS,
        max_body_bytes: int = 1 << 20,
        countermeasures: Any = None,
        org_resolver: Callable[[Scope, Mapping[str, str]], str | None] | None = None,
    ) -> None:
        self.app = app
        self.guard = guard
        self.account_resolver = account_resolver
        self.org_resolver = org_resolver
        self.paths = frozenset(paths)
        self.max_body_bytes = max_body_bytes
        # countermeasures.apply.Countermeasures: token cap, watermark, canaries on degrade
        self.countermeasures = countermeasures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        body = await self._read_body(receive, send)
        if body is None:  # the client left, or the body was refused (413)
            return
        payload = _json_object(body)
        record = self._record(scope, headers, payload)
        decision = await self._decide(record)
        action = decision.get("action", "allow")
        if action in REFUSALS:
            status, kind, message = REFUSALS[action]
            await self._send_error(send, status, kind, message, decision)
            self.guard.spawn(self.guard.observe(record))
            return
        replay = self._replayer(body, receive)
        answer = _AnswerRewriter(self, record, decision)
        cm = self.countermeasures
        if answer.degrade and cm is not None and payload is not None and cm.cap_request(payload):
            replay = self._replayer(json.dumps(payload).encode(), receive)
            self._count("max_tokens_cap")
            self._audit(record["account_id"], ["max_tokens_cap"], answer.silent)
        await self.app(scope, replay, answer.sender(send))
        self.guard.spawn(self._after(record, answer.captured))

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body (bounded), so it can be scored and then replayed to the app."""
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._send_error(
                    send,
                    413,
                    "invalid_request_error",
                    f"request body over {self.max_body_bytes} bytes",
                    {"action": "reject"},
                )
                return None
            chunks.append(chunk)
            more = msg.get("more_body", False)
        return b"".join(chunks)

    def _record(
        self, scope: Scope, headers: Mapping[str, str], payload: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The contract record of this call. Not a JSON object: still decided (known block,
        else the guard's fail mode)."""
        client = scope.get("client") or (None, None)
        return chat_body_to_record(
            payload or {},
            self.identify(scope, headers),
            request_id=headers.get("x-request-id"),
            ip=headers.get("x-forwarded-for", "").split(",")[0].strip() or client[0],
            user_agent=headers.get("user-agent"),
            org_id=self.organisation(scope, headers),
        )

    async def _decide(self, record: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        decision = await self.guard.check(record)
        self.guard.metrics.observe(
            "distillguard_hook_seconds",
            "in-gateway decision latency",
            time.perf_counter() - t0,
            integration="asgi",
        )
        return decision

    def organisation(self, scope: Scope, headers: Mapping[str, str]) -> str | None:
        """The caller's organisation, from as trusted a source as its account: a client-set
        ``X-Org-Id`` would otherwise reach ``allow_orgs`` (never restricted) and linkage. With no
        ``org_resolver``, the header counts only beside a header-resolved ``X-Account-Id``."""
        if self.org_resolver is not None:
            return self.org_resolver(scope, headers)
        if self.account_resolver is header_account_resolver and headers.get("x-account-id"):
            return header_org_resolver(scope, headers)
        return None

    def identify(self, scope: Scope, headers: Mapping[str, str]) -> str:
        """The authenticated account, else the API key's hash, else the client address."""
        account = self.account_resolver(scope, headers)
        if account:
            return str(account)
        key = api_key_of(headers)
        client = (scope.get("client") or ("unknown",))[0]
        account, by = (key_account(key), "key") if key else (f"ip:{client}", "ip")
        self.guard.metrics.counter(
            "distillguard_unidentified_total",
            "requests without an authenticated identity",
            integration="asgi",
            by=by,
        )
        log.warning("request to %s without an account; scored as %s", scope.get("path"), account)
        return account

    async def _after(self, record: dict[str, Any], captured: dict[str, Any]) -> None:
        """Off the hot path: learn the request, then report usage and status."""
        await self.guard.observe(record)
        event: dict[str, Any] = {
            "request_id": record["request_id"],
            "account_id": record["account_id"],
            "status": int(captured["status"] or 0),
        }
        if not captured["stream"]:
            try:
                usage = json.loads(b"".join(captured["body"])).get("usage") or {}
                for src, dst in (
                    ("prompt_tokens", "input_tokens"),
                    ("completion_tokens", "output_tokens"),
                ):
                    if isinstance(usage.get(src), int):
                        event[dst] = usage[src]
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                pass
        await self.guard.events([event])

    def _audit(self, account: str, kinds: list[str], silent: bool = False) -> None:
        """A local guard audits each transformation, and whether the caller was shown a marker
        (a remote one: its scoring service's decision to degrade is audited there)."""
        scorer = getattr(self.guard, "scorer", None)
        if scorer is not None:
            scorer.audit.append(
                "degrade_transform",
                "account",
                account,
                "gateway",
                ",".join(kinds),
                policy_version=scorer.policy.version,
                extra={"silent": silent},
            )

    def _count(self, what: str) -> None:
        self.guard.metrics.counter(
            "distillguard_countermeasures_total", "degraded responses transformed", kind=what
        )

    @staticmethod
    def _degrade_sse(chunk: bytes) -> bytes:
        out = []
        for line in chunk.split(b"\n"):
            if line.startswith(b"data: ") and line[6:].strip() not in (b"[DONE]", b""):
                try:
                    line = b"data: " + json.dumps(strip_reasoning(json.loads(line[6:]))).encode()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    pass
            out.append(line)
        return b"\n".join(out)

    @staticmethod
    def _replayer(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    async def _send_error(
        send: Send, status: int, kind: str, message: str, decision: Mapping[str, Any]
    ) -> None:
        body, headers = _openai_error(status, kind, message, decision)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
