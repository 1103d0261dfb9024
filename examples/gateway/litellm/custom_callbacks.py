"""distillguard as a LiteLLM proxy callback: ``callbacks: custom_callbacks.proxy_handler_instance``.

Environment: DISTILLGUARD_DATA (batch results + audit + actions; default ./distillguard-data),
DISTILLGUARD_POLICY (optional YAML), DISTILLGUARD_STATE (memory or redis://… shared by
replicas), DISTILLGUARD_LATE_WAIT_S (post-call wait for the full decision, default 0.05).

The account is the key's user_id / team_id / hashed key (virtual keys need LiteLLM's
database); this example also honours the OpenAI ``user`` field, which is handy with a
single master key.
"""

from __future__ import annotations

import os
from pathlib import Path

from distillguard.online.litellm_guard import DistillguardLiteLLM, default_account_resolver
from distillguard.online.scorer import OnlineScorer


def account_of(user_api_key_dict, data: dict) -> str | None:
    return data.get("user") or default_account_resolver(user_api_key_dict, data)


proxy_handler_instance = DistillguardLiteLLM(
    OnlineScorer(
        Path(os.environ.get("DISTILLGUARD_DATA", "distillguard-data")),
        os.environ.get("DISTILLGUARD_POLICY") or None,
        state=os.environ.get("DISTILLGUARD_STATE", "memory"),
    ),
    account_resolver=account_of,
    # How long the post-call hook waits for the request's full decision (degrade). A real
    # model takes longer than the background scoring; a fake instant upstream may not.
    late_wait_s=float(os.environ.get("DISTILLGUARD_LATE_WAIT_S", "0.05")),
)
