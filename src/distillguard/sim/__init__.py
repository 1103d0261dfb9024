"""Simulated LLM-API traffic with ground truth: the measuring stick for every detector.

``simulate(scenario, out, seed)`` writes a request log (``requests.jsonl.gz`` or Parquet), the
account table (``accounts.csv``), ground truth (``labels.csv``, ``request_labels.csv``), the
effective ``scenario.yaml`` and ``sim_summary.json``, exactly as ``shared/spec/CONTRACT.md``
specifies. Output is deterministic for a seed and corpora, and written chunk by chunk.

Benign population (personas ``casual``, ``developer``, ``student``): heavy-tailed (lognormal)
activity per account; sessions placed by a diurnal and a weekly cycle in each account's own
time zone; multi-turn sessions that carry earlier turns and assistant replies; real prompts
(ShareGPT, OASST2, HH-RLHF, AlpacaEval; role prompts as system prompts); residential, mobile,
corporate (colleagues share an office /24), VPN and cloud addresses, each recorded with the
country an offline GeoIP table gives it; browser and SDK user agents; many countries, sign-up
routes and verification levels; a model catalogue with a new model released mid-period that
accounts adopt gradually.

Hard-benign personas (:data:`HARD_BENIGN_PERSONAS`), legitimate but attacker-like:

- ``eval_runner``: runs GSM8K/HumanEval once per model with step-by-step prompt formats, at
  high concurrency from cloud servers, including the new model within hours of release;
- ``agentic_power_user``: a coding agent with a fixed system prompt and tools, long fast
  tool loops, very high volume, cloud dev boxes;
- ``enterprise_batch``: one fixed template over thousands of documents at night, keys in
  rotation, several accounts sharing one organisation and card;
- ``university_class``: students behind one campus /24 asking about the same weekly problems
  at class hours (education sign-ups, no card). In a random world (generator 2) the class's
  tightness is drawn too (``scenario.CLASS_TACTICS``): how much of its traffic is in the
  synchronised meeting or on campus, one NAT address or a host each, the lab's one browser,
  how many problems and phrasings, a sign-up wave, a department card; from a lecture course
  that barely clusters to a lab course as tight as a campaign;
- ``app_platform``: many end-user sessions through a few accounts with one system prompt.

Honest coordinated groups (:data:`~distillguard.sim.scenario.GROUP_PERSONAS`, random worlds of
generator 3 only; ``sim/groups.py``), each drawn per world from loose to campaign-tight: a
``company_team`` without a verified organisation (office network, internal tool, company card),
an ``eval_team`` running one harness from its members' accounts (one client, parameters, item
list, sweeps launched together) and a ``hackathon`` (a sign-up wave for the sponsor's credits,
the venue's network, the starter kit, the challenge's prompts).

Honest customers who ask for the reasoning (:data:`~distillguard.sim.scenario.G4_PERSONAS`,
random worlds of generator 4 only; ``sim/personas.py``), drawn the same way: a few
``math_teacher`` accounts (worksheets solved step by step, grading rubrics, school or home, the
school week; from teachers of different schools to one department on the school NAT, managed
browser, shared textbook, one template and the district's card) and a ``tutoring_service`` (a
startup's students' homework through one tutor prompt and a few forms at student hours; from
one verified account to many accounts opened one by one on one card from one backend).
Generator 5 also draws how many public harness formats a world's eval accounts wrap the
benchmarks' items in (``world.eval_formats``), so unrelated eval teams need not share templates.

Attack campaigns (:data:`CAMPAIGN_TYPES`), several per run, each labelled by ``campaign_id``:

- ``reasoning_harvest``: chain-of-thought elicitation in many languages, rubric grading with
  real judge templates, rewrites of sensitive questions; shared payment instruments;
  round-robin timing across accounts; hosting/VPN addresses;
- ``agentic_harvest``: tool-use coding trajectories over several access routes;
- ``hydra``: thousands of low-volume accounts (many on free education/research credits, with
  no card), rotating residential-proxy addresses, varied user agents, paraphrased templates,
  about half its traffic moved to the new model within a day of release, and genuine customer
  traffic mixed into some accounts (``request_labels`` marks those requests ``is_attack=0``);
- ``careful``: a few aged accounts with human-like sessions, hours and phrasing.

Attack text is real task text (GSM8K, HumanEval, GPTeacher, T0, Self-Instruct) wrapped in
several wordings per campaign. Without ``../shared/corpora`` (or with ``use_corpora=False``) a
built-in template generator stands in. The log is not globally time-sorted: chunks of accounts
(mixed across personas) are each sorted by time.
"""

from __future__ import annotations

from .run import simulate
from .scenario import (
    BENIGN_PERSONAS,
    CAMPAIGN_TYPES,
    HARD_BENIGN_PERSONAS,
    PRESETS,
    Scenario,
    load_scenario,
)

__all__ = [
    "BENIGN_PERSONAS",
    "CAMPAIGN_TYPES",
    "HARD_BENIGN_PERSONAS",
    "PRESETS",
    "Scenario",
    "load_scenario",
    "simulate",
]
