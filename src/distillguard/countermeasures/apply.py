"""What the online path does to a degraded exchange, beyond withholding reasoning.

Before the model runs: ``max_tokens`` / ``max_completion_tokens`` (OpenAI Chat Completions
request fields, https://platform.openai.com/docs/api-reference/chat/create) are capped. After:
each ``choices[i].message.content`` string of the ``chat.completion`` object is watermarked
and gets one canary sentence. Each transformation is counted and logged with the account, and
lifting the account's ``degrade`` action (an appeal) stops them for its next requests.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .canary import CanaryIssuer
from .watermark import Watermark

log = logging.getLogger(__name__)
ENV_MAX_TOKENS = "DISTILLGUARD_DEGRADE_MAX_TOKENS"


@dataclass
class Countermeasures:
    """Keyed watermark, canaries and a token cap; any of them may be off (None)."""

    watermark: Watermark | None = None
    canaries: CanaryIssuer | None = None
    max_tokens: int | None = None

    @classmethod
    def from_env(cls, data_dir: Path) -> Countermeasures:
        """Watermark and canaries when a key is set (see ``countermeasures.cli.load_key``);
        the cap from ``$DISTILLGUARD_DEGRADE_MAX_TOKENS``."""
        from ..errors import InvalidParameterError
        from .cli import load_key

        try:
            key = load_key()
        except InvalidParameterError:
            key = None
        cap = os.environ.get(ENV_MAX_TOKENS)
        return cls(
            watermark=Watermark(key) if key else None,
            canaries=CanaryIssuer(key, data_dir / "canaries.jsonl") if key else None,
            max_tokens=int(cap) if cap and cap.isdigit() else None,
        )

    def cap_request(self, payload: Any) -> bool:
        """Cap the request's output budget in place; True when it changed."""
        if self.max_tokens is None or not isinstance(payload, dict):
            return False
        changed = False
        for f in ("max_tokens", "max_completion_tokens"):
            v = payload.get(f)
            if isinstance(v, int) and v > self.max_tokens:
                payload[f] = self.max_tokens
                changed = True
        if "max_tokens" not in payload and "max_completion_tokens" not in payload:
            payload["max_completion_tokens"] = self.max_tokens
            changed = True
        return changed

    def transform_response(self, payload: Any, account_id: str) -> list[str]:
        """Watermark and plant a canary in each answer (in place); the transformations done.

        ``payload`` is the JSON object or LiteLLM's ``ModelResponse`` (attributes, same names)."""
        done: list[str] = []
        for choice in _field(payload, "choices") or []:
            msg = _field(choice, "message")
            content = _field(msg, "content") if msg is not None else None
            if not isinstance(content, str):
                continue
            if self.watermark is not None:
                content = self.watermark.apply(content)
                done.append("watermark")
            if self.canaries is not None:
                content = self.canaries.embed(content, account_id)
                done.append("canary")
            _assign(msg, "content", content)
        if done:
            log.info("degrade countermeasures for %s: %s", account_id, ",".join(sorted(set(done))))
        return sorted(set(done))


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _assign(obj: Any, name: str, value: Any) -> None:
    if isinstance(obj, dict):
        obj[name] = value
    else:
        setattr(obj, name, value)
