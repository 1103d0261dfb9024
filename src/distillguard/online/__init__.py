"""Online enforcement: score every request at the gateway, apply policy, audit every action.

- :mod:`.scorer` — :class:`~.scorer.OnlineScorer` (state + verdict cache + policy + actions + audit)
- :mod:`.state` — per-account online state (River-style ``update``/``get``/``merge``), memory or Redis
- :mod:`.policy` — the ``online`` policy section, rules, hot reload
- :mod:`.actions` — :class:`~.actions.ActionStore` (``actions.sqlite``)
- :mod:`.audit` — :class:`~.audit.AuditLog` (``audit.jsonl``, hash-chained)
- :mod:`.service` — the FastAPI scoring service (``distillguard serve``)
- :mod:`.asgi`, :mod:`.litellm_guard`, :mod:`.guard` — gateway integrations
- :mod:`.replay` — ``distillguard replay``; :mod:`.bench` — the online section of ``make bench``

See ``docs/ONLINE.md``.
"""
