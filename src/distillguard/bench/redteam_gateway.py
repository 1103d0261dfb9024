"""What the red-team attackers talk to: no detector, the online scorer in process, or HTTP.

Every gateway answers one contract record with an :class:`Outcome`: the action enforced and
what the caller can see of it. A silent degrade (``params.silent``) looks like an answer to
the caller; the bench still counts it as degraded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..online.normalize import normalize_record
from ..online.scorer import OnlineScorer, text_features


@dataclass
class Outcome:
    """The enforced action on one request, and whether the caller can tell it was degraded."""

    action: str
    account_risk: float = 0.0
    silent: bool = False
    retry_after_s: float | None = None
    rule: str | None = None
    cluster_id: str | None = None

    @property
    def visible_action(self) -> str:
        """What the caller observes: a silent degrade reads as an ordinary answer."""
        return "allow" if self.action == "degrade" and self.silent else self.action


class Gateway:
    """No detector: every request is answered."""

    name = "none"

    def decide(self, row: dict[str, Any], features: dict[str, Any] | None) -> Outcome:
        return Outcome("allow")

    def signup(self, body: dict[str, Any]) -> str:
        """The sign-up action for one new account (``body``: the contract's account fields,
        ``created_at`` in epoch ms): ``allow``, ``step_up`` or ``manual_review``."""
        return "allow"

    def challenge_passed(self, account_id: str, who: str) -> None:
        """The caller behind ``account_id`` passed the verification step a ``challenge``
        asked for (``who``: benign or attacker, for the audit's actor)."""
        return None

    def close(self) -> None:
        return None


class InProcessGateway(Gateway):
    """A fresh :class:`OnlineScorer` (enforcing, no batch verdicts) on the log's clock."""

    name = "distillguard"

    def __init__(self, data_dir: Path, policy: Path | None, state: str) -> None:
        self.scorer = OnlineScorer(data_dir, policy, state=state, shadow=False, load_results=False)
        self.scorer.event_time = True
        self.scorer.state.clear()  # a shared Redis starts every run empty
        self.scorer.linked.index.clear()
        # A fixed secret: jitter and delays are unknown to the attacker but reproducible here.
        self.scorer.linked.secret = hashlib.blake2b(b"bench-redteam", digest_size=32).digest()
        self._feats: dict[str, dict[str, Any]] = {}
        self._signup: Any = None

    def _text_features(self, row: dict[str, Any]) -> dict[str, Any]:
        key = f"{row.get('system_text')}\x00{row['prompt_text']}"
        f = self._feats.get(key)
        if f is None:
            f = text_features([row], self.scorer.policy.policy)[0][0]
            if len(self._feats) > 50_000:
                self._feats.clear()
            self._feats[key] = f
        return f

    def decide(self, row: dict[str, Any], features: dict[str, Any] | None) -> Outcome:
        if "ts_ms" not in row:
            row = normalize_record(row)
        row = dict(row)
        row.update(features if features is not None else self._text_features(row))
        d = self.scorer.decide(row)
        silent = bool(d.params.get("silent"))
        return Outcome(d.action, d.account_risk, silent, d.retry_after_s, d.rule, d.cluster_id)

    def signup(self, body: dict[str, Any]) -> str:
        """What ``POST /v1/signup`` does (``online/service.signup``), on the log's clock: scored
        at ``created_at``, where the live service scores at the wall clock (a replay at the
        wall clock would put all its sign-ups into one burst window)."""
        from ..online.service import _note_signup
        from ..signup.online import SignupService

        if self._signup is None:  # no batch store or verdicts here: it learns as it goes
            self._signup = SignupService(self.scorer.data_dir, set(),
                                         self.scorer.policy.policy.signup.table())
        out = self._signup.assess(body, now_ms=float(body["created_at"]))
        _note_signup(self.scorer, body, out)
        return str(out["action"])

    def challenge_passed(self, account_id: str, who: str) -> None:
        self.scorer.challenge_passed(account_id, actor=f"bench-redteam:{who}", method="bench")

    def close(self) -> None:
        self.scorer.close()


class HttpGateway(Gateway):
    """A running ``distillguard serve``: ``POST /v1/score?sync=true`` per request."""

    name = "distillguard-http"

    def __init__(self, url: str, token: str | None = None, admin_token: str | None = None) -> None:
        import httpx

        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=10.0)
        # the admin routes' header (a passed challenge); the API token's when not given
        self.admin_headers = {"authorization": f"Bearer {admin_token}"} if admin_token else None

    def decide(self, row: dict[str, Any], features: dict[str, Any] | None) -> Outcome:
        rec = row.get("_record") or row
        r = self.client.post("/v1/score", params={"sync": "true"}, json=rec)
        r.raise_for_status()
        d = r.json()
        silent = bool((d.get("params") or {}).get("silent"))
        return Outcome(
            d["action"],
            float(d.get("account_risk") or 0.0),
            silent,
            d.get("retry_after_s"),
            d.get("rule"),
            d.get("cluster_id"),
        )

    def signup(self, body: dict[str, Any]) -> str:
        r = self.client.post("/v1/signup", json=body)
        r.raise_for_status()
        return str(r.json()["action"])

    def challenge_passed(self, account_id: str, who: str) -> None:
        """``POST /v1/admin/challenge/passed`` with the admin token."""
        r = self.client.post(
            "/v1/admin/challenge/passed",
            json={"account_id": account_id, "method": "bench", "actor": f"bench-redteam:{who}"},
            headers=self.admin_headers,
        )
        r.raise_for_status()

    def close(self) -> None:
        self.client.close()


def make_gateway(
    detector: str, data_dir: Path, policy: Path | None, state: str, url: str | None
) -> Gateway:
    """``none`` → :class:`Gateway`; otherwise in process, or over HTTP when ``url`` is set."""
    if detector == "none":
        return Gateway()
    if url:  # the tokens a deployment's service was started with
        return HttpGateway(
            url, os.environ.get("DISTILLGUARD_TOKEN"), os.environ.get("DISTILLGUARD_ADMIN_TOKEN")
        )
    return InProcessGateway(data_dir, policy, state)
