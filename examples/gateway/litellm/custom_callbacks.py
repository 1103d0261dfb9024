"""distillguard as a plain LiteLLM callback (``litellm_settings: callbacks:
custom_callbacks.proxy_handler_instance``), for proxies that do not use ``guardrails:``.

Environment: DISTILLGUARD_DATA (batch results + audit + actions; default ./distillguard-data),
DISTILLGUARD_POLICY (optional YAML), DISTILLGUARD_STATE (memory or redis://… shared by
replicas), DISTILLGUARD_LATE_WAIT_S (post-call wait for the full decision, default 0.05).

The account is the authenticated key's user_id / team_id / hash; the OpenAI ``user`` field is
ignored on purpose: the client writes it.
"""

from __future__ import annotations

from distillguard.online.litellm_guard import DistillguardLiteLLM

proxy_handler_instance = DistillguardLiteLLM.from_env()
