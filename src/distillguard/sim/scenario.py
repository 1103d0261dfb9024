"""Scenario: everything a simulation run is made of, loaded from one YAML file.

A scenario names the period, the model catalogue (with a model released mid-period), the
benign population, the hard-benign personas and the attack campaigns. Presets are scenario
files in ``sim/presets``. Every key is validated when loaded; an unknown key, a wrong type
or a negative size raises :class:`~distillguard.errors.ScenarioError` naming the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ScenarioError

PRESET_DIR = Path(__file__).with_name("presets")
PRESETS: tuple[str, ...] = ("tiny", "small", "medium", "large")

BENIGN_PERSONAS: tuple[str, ...] = ("casual", "developer", "student")
HARD_BENIGN_PERSONAS: tuple[str, ...] = (
    "eval_runner",
    "agentic_power_user",
    "enterprise_batch",
    "university_class",
    "app_platform",
    "leaderboard_operator",
    "labelling_vendor",
    "research_synthetic",
)
# Honest coordinated groups that random worlds draw from generator 3 on (never the presets):
# a company team without a verified organisation, an eval team running one harness from
# several accounts, a hackathon. Planned last, from their own random stream (sim/groups.py).
GROUP_PERSONAS: tuple[str, ...] = ("company_team", "eval_team", "hackathon")
# Hard-benign personas that random worlds draw from generator 4 on (never the presets): honest
# math teachers and tutoring services, whose step-by-step math requests look like a reasoning
# harvest. Planned after generator 3's groups, from a stream of their own (sim/personas.py).
G4_PERSONAS: tuple[str, ...] = ("math_teacher", "tutoring_service")
CAMPAIGN_TYPES: tuple[str, ...] = (
    "reasoning_harvest",
    "agentic_harvest",
    "hydra",
    "careful",
    "shard",
    "slow_drip",
    "cloud_route",
    "adaptive",
)
CAPABILITIES: tuple[str, ...] = ("math", "code", "nlp", "general")
TIMINGS: tuple[str, ...] = ("round_robin", "burst", "human", "drip")
PROXIES: tuple[str, ...] = ("hosting", "residential", "stable", "home", "none")
UA_MODES: tuple[str, ...] = ("sdk", "agent", "browser", "one_browser", "varied")
LANGUAGES: tuple[str, ...] = ("en", "zh", "ru", "es", "de", "fr", "ja", "ko", "pt", "ar")

# Defaults for each campaign type; a scenario's ``tactics`` overrides any of them.
#   cot, rubric, sensitive_rewrite  shares of requests with chain-of-thought wording, rubric
#                                   grading (real judge templates), rewrites of sensitive
#                                   questions; the rest use the campaign's plain wordings
#   wordings                        how many distinct wordings (hydra: paraphrases) per campaign
#   payment_sharing                 accounts per payment instrument (1 = no sharing)
#   timing                          round_robin (one stream dealt across accounts), burst
#                                   (short account lives, bursts of requests), human, or
#                                   drip (1-5 requests a day per account)
#   routes                          access routes the campaign's accounts use
#   proxy                           hosting (rented servers / VPN exits shared by accounts),
#                                   residential (rotating residential proxies), stable (home
#                                   broadband plus a mobile carrier, new address per
#                                   connection), home (home broadband only) or none (cloud
#                                   marketplace: no client IP reaches us)
#   user_agents                     sdk, agent, browser (two browsers), one_browser, or varied
#                                   (browser + SDK, rotating)
#   pivot_share, pivot_hours        share of traffic moved to the new model, hours after release
#   mixed_accounts, mixed_share     share of accounts that also carry genuine customer traffic,
#                                   and the genuine share of those accounts' requests
#   tools                           declare tools (agentic harvest)
#   operator_tz                     UTC offset of the operators' working hours
#   local_hours                     (careful) sessions keep the hours of an ordinary user of
#                                   the account's country in this world, not operator_tz
#   followups                       share of sessions with follow-up turns (careful, adaptive)
#   rotation_minutes                how long a residential proxy exit is kept (0: new per request)
#   jitter                          timing jitter as a share of the pacing interval
#   aged_share                      share of accounts bought or aged (signed up months before)
_TACTIC_BASE: dict[str, Any] = dict(
    cot=0.35,
    rubric=0.05,
    sensitive_rewrite=0.0,
    payment_sharing=1.0,
    timing="burst",
    routes=["direct"],
    proxy="hosting",
    user_agents="sdk",
    wordings=6,
    pivot_share=0.3,
    pivot_hours=24.0,
    mixed_accounts=0.0,
    mixed_share=0.0,
    tools=False,
    operator_tz=8.0,
    followups=0.0,
    rotation_minutes=0.0,
    jitter=0.25,
    aged_share=0.0,
)
TACTIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "reasoning_harvest": {
        **_TACTIC_BASE,
        "cot": 0.7,
        "rubric": 0.15,
        "sensitive_rewrite": 0.08,
        "payment_sharing": 6.0,
        "timing": "round_robin",
        "pivot_share": 0.25,
        "pivot_hours": 36.0,
    },
    "agentic_harvest": {
        **_TACTIC_BASE,
        "rubric": 0.0,
        "payment_sharing": 4.0,
        "routes": ["direct", "cloud:aws-bedrock", "cloud:gcp-vertex", "reseller:tokenbridge"],
        "user_agents": "agent",
        "wordings": 5,
        "tools": True,
    },
    "hydra": {
        **_TACTIC_BASE,
        "cot": 0.25,
        "sensitive_rewrite": 0.02,
        "payment_sharing": 12.0,
        "routes": ["direct", "reseller:routerhub", "reseller:apimart"],
        "proxy": "residential",
        "user_agents": "varied",
        "wordings": 40,
        "pivot_share": 0.5,
        "pivot_hours": 10.0,
        "mixed_accounts": 0.15,
        "mixed_share": 0.35,
    },
    "careful": {
        **_TACTIC_BASE,
        "cot": 0.3,
        "rubric": 0.0,
        "timing": "human",
        "proxy": "stable",
        "user_agents": "browser",
        "pivot_share": 0.1,
        "pivot_hours": 72.0,
        "operator_tz": -5.0,
        "local_hours": False,
        "followups": 0.35,
    },
    # Many accounts, each a disjoint slice of one task pool, all with one job's parameters.
    "shard": {
        **_TACTIC_BASE,
        "cot": 0.5,
        "rubric": 0.1,
        "payment_sharing": 3.0,
        "timing": "round_robin",
        "wordings": 1,
    },
    # Thousands of accounts, 1-5 requests a day each, over rotating residential exits.
    "slow_drip": {
        **_TACTIC_BASE,
        "sensitive_rewrite": 0.02,
        "timing": "drip",
        "routes": ["direct", "reseller:routerhub"],
        "proxy": "residential",
        "user_agents": "varied",
        "wordings": 60,
        "pivot_share": 0.4,
        "rotation_minutes": 30.0,
        "jitter": 0.5,
    },
    # Through cloud marketplaces: no client IP and no payment fingerprint reach the provider.
    "cloud_route": {
        **_TACTIC_BASE,
        "cot": 0.5,
        "rubric": 0.1,
        "sensitive_rewrite": 0.05,
        "routes": ["cloud:aws-bedrock", "cloud:gcp-vertex", "cloud:azure-foundry"],
        "proxy": "none",
        "wordings": 10,
    },
    # Knows the default detector: jittered human-like timing, rotating user agents and egress,
    # every prompt paraphrased, half the traffic genuine-looking cover, never a shared card.
    "adaptive": {
        **_TACTIC_BASE,
        "cot": 0.3,
        "sensitive_rewrite": 0.02,
        "timing": "human",
        "proxy": "residential",
        "user_agents": "varied",
        "wordings": 300,
        "pivot_share": 0.2,
        "pivot_hours": 72.0,
        "mixed_accounts": 1.0,
        "mixed_share": 0.5,
        "operator_tz": 1.0,
        "followups": 0.3,
        "rotation_minutes": 90.0,
        "jitter": 0.9,
    },
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of the catalogue. ``released_day`` set: released mid-period (a new model)."""

    name: str
    share: float = 1.0
    reasoning: bool = False
    released_day: float | None = None
    adoption: float = 0.3


@dataclass(frozen=True)
class BenignSpec:
    """The ordinary benign population."""

    accounts: int = 200
    requests_median: float = 5.0
    requests_sigma: float = 1.6
    max_requests: int = 5000
    mix: dict[str, float] = field(
        default_factory=lambda: {"casual": 0.62, "developer": 0.28, "student": 0.10}
    )
    mean_session_turns: float = 2.2
    vpn_share: float = 0.04
    cloud_share: float = 0.03
    new_signups: float = 0.06


@dataclass(frozen=True)
class PersonaSpec:
    """A hard-benign persona: ``accounts`` accounts sending ``requests`` requests in total."""

    accounts: int
    requests: int
    end_users: int = 0
    keys: int = 3
    tactics: dict[str, Any] | None = None  # a group's tightness (PERSONA_TACTICS)


# How tightly a university class coordinates: (default, lo, hi). The defaults are the one
# class of generator 1 (and of the presets); random worlds draw every value (priors.yaml).
CLASS_TACTICS: dict[str, tuple[Any, float, float]] = {
    "class_share": (0.55, 0.0, 1.0),  # sessions in the synchronised class meeting
    "meeting_days": (2, 1, 5),  # class meetings a week
    "campus_share": (0.0, 0.0, 1.0),  # other sessions also from the campus network
    "campus_nat": (False, 0, 1),  # campus traffic leaves by one address (else one per host)
    "lab_browser": (0.0, 0.0, 1.0),  # students on one managed browser build
    "items_per_week": (8, 1, 100),  # problems in the week's set
    "set_share": (1.0, 0.0, 1.0),  # sessions on the set (else the student's own questions)
    "wordings": (6, 1, 60),  # phrasings of the set in use
    "signup_wave_days": (50.0, 0.01, 400.0),  # the class signs up within this many days
    "signup_lag_days": (10.0, -30.0, 400.0),  # the wave ends this long before the period
    "dept_card": (False, 0, 1),  # one department card pays for the class
}
# Generator 3's groups, (default, lo, hi) as above; random worlds draw every value (priors.yaml,
# where the ranges are justified). The defaults are a middling group, for hand-written scenarios.
TEAM_TACTICS: dict[str, tuple[Any, float, float]] = {
    "office_share": (0.6, 0.0, 1.0),  # sessions from the office network (else from home)
    "office_nat": (True, 0, 1),  # the office leaves by one address (else a host each)
    "tool_share": (0.5, 0.0, 1.0),  # members on the team's internal tool (one client + prompt)
    "task_share": (0.5, 0.0, 1.0),  # the tool's sessions on the team's shared task templates
    "wordings": (2, 1, 4),  # the shared task's templates in use
    "team_card": (False, 0, 1),  # one company card pays for every member's account
    "signup_wave_days": (60.0, 0.01, 400.0),  # the team signs up within this many days
    "signup_lag_days": (30.0, -30.0, 400.0),  # the wave ends this long before the period
}
EVAL_TEAM_TACTICS: dict[str, tuple[Any, float, float]] = {
    "shared_items": (0.7, 0.0, 1.0),  # runs on the team's one item list (else a member's own)
    "sync_runs": (0.3, 0.0, 1.0),  # runs launched together across members (one sweep)
    "one_server": (True, 0, 1),  # every run leaves from the team's one server
    "one_format": (True, 0, 1),  # one client, prompt format and parameters for the team
    "team_card": (False, 0, 1),  # one lab card pays for every member's account
    "signup_wave_days": (60.0, 0.01, 400.0),
    "signup_lag_days": (30.0, -30.0, 400.0),
}
HACKATHON_TACTICS: dict[str, tuple[Any, float, float]] = {
    "event_day": (0.4, 0.0, 0.9),  # the event starts at this share of the period
    "event_days": (2, 1, 4),  # how long it lasts
    "signup_wave_days": (2.0, 0.01, 60.0),  # participants sign up within this many days before
    "venue_share": (0.7, 0.0, 1.0),  # event sessions from the venue network
    "venue_nat": (True, 0, 1),  # the venue leaves by one address (else a host each)
    "starter_kit": (0.5, 0.0, 1.0),  # participants on the starter kit (client, prompt, params)
    "challenge_share": (0.6, 0.0, 1.0),  # sessions on the challenge's prompts (else their own)
    "wordings": (4, 1, 30),  # phrasings of the challenge in use
    "retention": (0.2, 0.0, 1.0),  # participants who keep using the account after the event
    "credits": (True, 0, 1),  # signed up on the sponsor's credits (education / startup route)
}
# Generator 4's personas, (default, lo, hi) as above (ranges justified in priors.yaml).
TEACHER_TACTICS: dict[str, tuple[Any, float, float]] = {
    "same_school": (0.5, 0.0, 1.0),  # teachers of one school's math department (else own schools)
    "school_share": (0.5, 0.0, 1.0),  # sessions from the school network (else from home)
    "school_nat": (True, 0, 1),  # the school leaves by one address (else a host each)
    "managed_browser": (0.3, 0.0, 1.0),  # teachers on the school's one managed browser build
    "shared_curriculum": (0.5, 0.0, 1.0),  # worksheet items from the shared textbook list
    "worksheet_share": (0.6, 0.0, 1.0),  # sessions on a worksheet (several items in a row)
    "rubric_share": (0.1, 0.0, 1.0),  # sessions grading students' answers with a rubric
    "wordings": (4, 1, 40),  # phrasings in use: the department's one template .. each their own
    "district_card": (False, 0, 1),  # the district pays for the department's accounts
    "signup_wave_days": (60.0, 0.01, 400.0),  # the department signs up within this many days
    "signup_lag_days": (30.0, -30.0, 400.0),  # the wave ends this long before the period
}
TUTORING_TACTICS: dict[str, tuple[Any, float, float]] = {
    "business_verified": (True, 0, 1),  # one verified organisation (else accounts one by one)
    "company_card": (True, 0, 1),  # the startup's one card on every account (else a card each)
    "one_backend": (True, 0, 1),  # every account sends from the app's one backend address
    "form_share": (0.5, 0.0, 1.0),  # sessions from the app's question forms (else typed freely)
    "forms": (4, 1, 30),  # question forms the app has
    "stepwise": (0.7, 0.0, 1.0),  # forms that ask for the steps ("explain step by step")
    "followups": (0.4, 0.0, 1.0),  # sessions the student follows up ("why?", "next step?")
    "local_students": (0.8, 0.0, 1.0),  # students in the startup's country (one evening peak)
    "signup_wave_days": (30.0, 0.01, 400.0),  # the app's accounts are opened within this span
    "signup_lag_days": (30.0, -30.0, 400.0),  # the wave ends this long before the period
}
PERSONA_TACTICS: dict[str, dict[str, tuple[Any, float, float]]] = {
    "university_class": CLASS_TACTICS,
    "company_team": TEAM_TACTICS,
    "eval_team": EVAL_TEAM_TACTICS,
    "hackathon": HACKATHON_TACTICS,
    "math_teacher": TEACHER_TACTICS,
    "tutoring_service": TUTORING_TACTICS,
}


def persona_tactics(persona: str, spec: PersonaSpec) -> dict[str, Any]:
    """The persona's tactics: the scenario's, else the table's defaults."""
    return spec.tactics or {k: v[0] for k, v in PERSONA_TACTICS[persona].items()}


@dataclass(frozen=True)
class CampaignSpec:
    """One attack campaign."""

    id: str
    type: str
    accounts: int
    requests: int
    capability: tuple[str, ...]
    languages: tuple[str, ...]
    start_day: float
    end_day: float | None
    tactics: dict[str, Any]


SIGNUP_ROUTES: tuple[str, ...] = ("standard", "startup", "education", "research", "enterprise")
VERIFICATIONS: tuple[str, ...] = ("none", "email", "phone", "id", "business")


@dataclass(frozen=True)
class WorldSpec:
    """What a random world redraws that a preset keeps fixed (see ``sim/priors.yaml``).

    Every field's default reproduces the presets exactly, so a scenario without ``world``
    simulates as before."""

    grammar_seed: int | None = None  # wordings drawn from sim.grammar instead of fixed lists
    attack_routes: dict[str, float] | None = None  # sign-up routes of campaign accounts
    attack_verification: dict[str, float] | None = None
    benign_routes: dict[str, float] | None = None
    cloud_hides_client: bool = False  # cloud-route requests carry no client IP or card
    diurnal_shift: float = 0.0  # hours added to every benign account's local clock
    attack_countries: tuple[str, ...] | None = None  # exit countries of hosted campaigns
    benign_card_sharing: float = 0.0  # share of ordinary accounts paying with a shared card
    eval_formats: int | None = None  # harness formats in use per benchmark (None: the fixed two)


@dataclass(frozen=True)
class Scenario:
    """A complete, validated simulation scenario."""

    name: str
    description: str
    start: dt.datetime
    days: float
    models: tuple[ModelSpec, ...]
    benign: BenignSpec
    hard_benign: dict[str, PersonaSpec]
    campaigns: tuple[CampaignSpec, ...]
    source: str = "<dict>"
    world: WorldSpec = field(default_factory=WorldSpec)

    # ---- derived -----------------------------------------------------------------------
    @property
    def new_model(self) -> ModelSpec | None:
        """The model released mid-period (the first one with ``released_day``), if any."""
        return next((m for m in self.models if m.released_day is not None), None)

    def planned_requests(self) -> int:
        """Roughly how many requests the run will write (for the progress bar)."""
        b = self.benign
        import math

        mean = b.requests_median * math.exp(b.requests_sigma**2 / 2)
        total = int(b.accounts * min(mean, b.max_requests))
        total += sum(p.requests for p in self.hard_benign.values())
        for c in self.campaigns:
            extra = (
                c.tactics["mixed_accounts"]
                * c.tactics["mixed_share"]
                / max(1e-9, 1 - c.tactics["mixed_share"])
            )
            total += int(c.requests * (1 + extra))
        return total

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as in the YAML file (defaults filled in)."""
        d = {
            "name": self.name,
            "description": self.description,
            "period": {"start": self.start.isoformat(), "days": self.days},
            "models": [{k: v for k, v in asdict(m).items() if v is not None} for m in self.models],
            "benign": asdict(self.benign),
            "hard_benign": {
                k: {f: x for f, x in asdict(v).items() if x is not None}
                for k, v in self.hard_benign.items()
            },
            "campaigns": [],
        }
        for c in self.campaigns:
            cd = asdict(c)
            cd["capability"] = list(c.capability)
            cd["languages"] = list(c.languages)
            if cd["end_day"] is None:
                del cd["end_day"]
            d["campaigns"].append(cd)
        if self.world != WorldSpec():
            w = {k: v for k, v in asdict(self.world).items() if v is not None}
            if "attack_countries" in w:
                w["attack_countries"] = list(w["attack_countries"])
            d["world"] = w
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> Scenario:
        """Validate ``data`` (as parsed from YAML) and build a scenario."""
        return _parse(data, source)


# ---- loading ------------------------------------------------------------------------------
def load_scenario(scenario: str | Path | Scenario | dict) -> Scenario:
    """A preset name (tiny, small, medium, large), a YAML path, a dict or a Scenario."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return Scenario.from_dict(scenario)
    if not isinstance(scenario, (str, Path)):
        raise ScenarioError(
            f"scenario must be a preset name, a YAML path or a Scenario; got {type(scenario).__name__}"
        )
    text = str(scenario)
    if isinstance(scenario, str) and text in PRESETS:
        path = PRESET_DIR / f"{text}.yaml"
    else:
        path = Path(scenario)
        if not path.is_file():
            if path.suffix in (".yaml", ".yml") or "/" in text:
                raise ScenarioError(f"scenario file not found: {path}")
            raise ScenarioError(
                f"unknown preset {text!r}; choose one of {', '.join(PRESETS)} or give a YAML file"
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ScenarioError(
            f"scenario {path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {path}: cannot read: {exc}") from None
    return Scenario.from_dict(data, str(path))


class _V:
    """Small validator: every message names the file and the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, msg: str) -> None:
        raise ScenarioError(f"scenario {self.source}: {where} {msg}")

    def mapping(
        self, where: str, value: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping; got {type(value).__name__}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            self.fail(where, f"has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
        for k in required:
            if k not in value:
                self.fail(where, f"is missing the required key {k!r}")
        return value

    def integer(self, where: str, value: Any, lo: int = 0, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be an integer >= {lo}; got {value!r}")
        if value < lo or (hi is not None and value > hi):
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            self.fail(where, f"must be an integer {rng}; got {value}")
        return int(value)

    def number(
        self,
        where: str,
        value: Any,
        lo: float = 0.0,
        hi: float | None = None,
        lo_open: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"must be a number; got {value!r}")
        bad = value <= lo if lo_open else value < lo
        if bad or (hi is not None and value > hi):
            lo_s = f"> {lo}" if lo_open else f">= {lo}"
            self.fail(
                where,
                f"must be a number {lo_s}"
                + (f" and <= {hi}" if hi is not None else "")
                + f"; got {value}",
            )
        return float(value)

    def choice(self, where: str, value: Any, options: tuple[str, ...]) -> str:
        if value not in options:
            self.fail(where, f"must be one of {', '.join(options)}; got {value!r}")
        return str(value)

    def str_list(
        self, where: str, value: Any, options: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value):
            self.fail(where, f"must be a non-empty list of strings; got {value!r}")
        if options is not None:
            for x in value:
                self.choice(where, x, options)
        return tuple(value)


_TOP_KEYS = (
    "name",
    "description",
    "period",
    "models",
    "benign",
    "hard_benign",
    "campaigns",
    "world",
)
_MODEL_KEYS = ("name", "share", "reasoning", "released_day", "adoption")
_CAMPAIGN_KEYS = (
    "id",
    "type",
    "accounts",
    "requests",
    "capability",
    "languages",
    "start_day",
    "end_day",
    "tactics",
)
_UNIT_TACTICS = (
    "cot",
    "rubric",
    "sensitive_rewrite",
    "pivot_share",
    "mixed_accounts",
    "followups",
    "jitter",
    "aged_share",
)
# (lo, hi) of the numeric tactics; None: no upper bound.
_TACTIC_RANGES: dict[str, tuple[float, float | None]] = {
    **{k: (0.0, 1.0) for k in _UNIT_TACTICS},
    "mixed_share": (0.0, 0.95),
    "rotation_minutes": (0.0, 10_000.0),
    "payment_sharing": (1.0, None),
    "pivot_hours": (0.0, None),
    "operator_tz": (-12.0, 14.0),
}
_TACTIC_CHOICES = {"timing": TIMINGS, "proxy": PROXIES, "user_agents": UA_MODES}


def _parse(data: Any, source: str) -> Scenario:
    # Sections in file order, so the first error reported is the first one in the file.
    v = _V(source)
    top = v.mapping("top level", data, _TOP_KEYS, ("period", "models"))
    start, days = _parse_period(v, top["period"])
    models = _parse_models(v, top["models"], days)
    benign = _parse_benign(v, top.get("benign", {}) or {})
    hard = _parse_hard_benign(v, top.get("hard_benign", {}) or {})
    camps = _parse_campaigns(v, top.get("campaigns", []) or [], days)
    world = _parse_world(v, top.get("world") or {})
    name = top.get("name", Path(source).stem if source != "<dict>" else "custom")
    desc = top.get("description", "")
    if not isinstance(name, str) or not isinstance(desc, str):
        v.fail("name/description", "must be strings")
    return Scenario(name, desc, start, days, models, benign, hard, camps, source, world)


def _parse_period(v: _V, raw: Any) -> tuple[dt.datetime, float]:
    period = v.mapping("period", raw, ("start", "days"), ("start", "days"))
    start = _parse_start(v, period["start"])
    return start, v.number("period.days", period["days"], 0.0, 366.0, lo_open=True)


def _parse_start(v: _V, start: Any) -> dt.datetime:
    """The period's start in UTC; a date or a naive time is taken as UTC."""
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        start = dt.datetime(start.year, start.month, start.day)
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            v.fail(
                "period.start",
                f"must be an ISO 8601 time such as 2026-03-02T00:00:00+00:00; got {start!r}",
            )
    if not isinstance(start, dt.datetime):
        v.fail("period.start", f"must be an ISO 8601 time; got {start!r}")
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    return start.astimezone(dt.timezone.utc)


def _parse_models(v: _V, raw: Any, days: float) -> tuple[ModelSpec, ...]:
    if not isinstance(raw, list) or not raw:
        v.fail("models", "must be a non-empty list")
    names: set[str] = set()
    models = tuple(_parse_model(v, f"models[{i}]", m, days, names) for i, m in enumerate(raw))
    if sum(m.share for m in models if m.released_day is None) <= 0:
        v.fail("models", "need at least one model available from the start with share > 0")
    return models


def _parse_model(v: _V, w: str, m: Any, days: float, names: set[str]) -> ModelSpec:
    """One catalogue entry; ``names`` collects the names seen so far (no repeats)."""
    v.mapping(w, m, _MODEL_KEYS, ("name",))
    if not isinstance(m["name"], str) or not m["name"]:
        v.fail(f"{w}.name", f"must be a non-empty string; got {m['name']!r}")
    if m["name"] in names:
        v.fail(f"{w}.name", f"repeats the model {m['name']!r}")
    names.add(m["name"])
    rel = m.get("released_day")
    if rel is not None:
        rel = v.number(f"{w}.released_day", rel, 0.0, days)
    reasoning = m.get("reasoning", False)
    if not isinstance(reasoning, bool):
        v.fail(f"{w}.reasoning", f"must be true or false; got {reasoning!r}")
    return ModelSpec(
        name=m["name"],
        share=v.number(f"{w}.share", m.get("share", 1.0)),
        reasoning=reasoning,
        released_day=rel,
        adoption=v.number(f"{w}.adoption", m.get("adoption", 0.3), 0.0, 1.0),
    )


def _parse_benign(v: _V, raw: Any) -> BenignSpec:
    b = v.mapping("benign", raw, tuple(BenignSpec.__dataclass_fields__))
    d = BenignSpec()
    mix = _parse_mix(v, b.get("mix", d.mix))

    def number(key: str, lo: float = 0.0, hi: float | None = 1.0, **kw: bool) -> float:
        return v.number(f"benign.{key}", b.get(key, getattr(d, key)), lo, hi, **kw)

    return BenignSpec(
        accounts=v.integer("benign.accounts", b.get("accounts", d.accounts)),
        requests_median=number("requests_median", hi=None, lo_open=True),
        requests_sigma=number("requests_sigma", hi=4.0),
        max_requests=v.integer("benign.max_requests", b.get("max_requests", d.max_requests), 1),
        mix=mix,
        mean_session_turns=number("mean_session_turns", 1.0, 6.0),
        vpn_share=number("vpn_share"),
        cloud_share=number("cloud_share"),
        new_signups=number("new_signups"),
    )


def _parse_mix(v: _V, raw: Any) -> dict[str, float]:
    v.mapping("benign.mix", raw, BENIGN_PERSONAS)
    mix = {k: v.number(f"benign.mix.{k}", x) for k, x in raw.items()}
    if sum(mix.values()) <= 0:
        v.fail("benign.mix", "must give a positive share to at least one persona")
    return mix


def _parse_hard_benign(v: _V, raw: Any) -> dict[str, PersonaSpec]:
    hb_raw = v.mapping("hard_benign", raw, HARD_BENIGN_PERSONAS + GROUP_PERSONAS + G4_PERSONAS)
    return {name: _parse_persona(v, f"hard_benign.{name}", p) for name, p in hb_raw.items()}


def _parse_persona(v: _V, w: str, p: Any) -> PersonaSpec:
    keys = ("accounts", "requests", "end_users", "keys", "tactics")
    v.mapping(w, p, keys, ("accounts", "requests"))
    acc = v.integer(f"{w}.accounts", p["accounts"])
    req = v.integer(f"{w}.requests", p["requests"])
    if acc and req < acc:
        v.fail(f"{w}.requests", f"must be at least accounts ({acc}); got {req}")
    tactics = None
    if p.get("tactics") is not None:
        persona = w.rsplit(".", 1)[1]
        if persona not in PERSONA_TACTICS:
            v.fail(f"{w}.tactics", f"is only known for {', '.join(PERSONA_TACTICS)}")
        tactics = _parse_persona_tactics(v, f"{w}.tactics", p["tactics"], PERSONA_TACTICS[persona])
    return PersonaSpec(
        acc,
        req,
        v.integer(f"{w}.end_users", p.get("end_users", 0)),
        v.integer(f"{w}.keys", p.get("keys", 3), 1),
        tactics,
    )


def _parse_persona_tactics(v: _V, w: str, raw: Any, table: dict) -> dict[str, Any]:
    """Every key of ``table`` (one of :data:`PERSONA_TACTICS`), given or defaulted, checked
    against its range."""
    v.mapping(w, raw, tuple(table))
    out: dict[str, Any] = {}
    for key, (default, lo, hi) in table.items():
        value = raw.get(key, default)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                v.fail(f"{w}.{key}", f"must be true or false; got {value!r}")
            out[key] = value
        elif isinstance(default, int):
            out[key] = v.integer(f"{w}.{key}", value, int(lo), int(hi))
        else:
            out[key] = v.number(f"{w}.{key}", value, lo, hi)
    return out


def _parse_campaigns(v: _V, raw: Any, days: float) -> tuple[CampaignSpec, ...]:
    if not isinstance(raw, list):
        v.fail("campaigns", "must be a list")
    ids: set[str] = set()
    return tuple(_parse_campaign(v, f"campaigns[{i}]", c, days, ids) for i, c in enumerate(raw))


def _parse_campaign(v: _V, w: str, c: Any, days: float, ids: set[str]) -> CampaignSpec:
    """One campaign; ``ids`` collects the ids seen so far (no repeats)."""
    v.mapping(w, c, _CAMPAIGN_KEYS, ("id", "type", "accounts", "requests"))
    cid = c["id"]
    if not isinstance(cid, str) or not cid or "," in cid:
        v.fail(f"{w}.id", f"must be a non-empty string without commas; got {cid!r}")
    if cid in ids:
        v.fail(f"{w}.id", f"repeats the campaign id {cid!r}")
    ids.add(cid)
    ctype = v.choice(f"{w}.type", c["type"], CAMPAIGN_TYPES)
    acc = v.integer(f"{w}.accounts", c["accounts"], 1)
    req = v.integer(f"{w}.requests", c["requests"], 1)
    if req < acc:
        v.fail(f"{w}.requests", f"must be at least accounts ({acc}); got {req}")
    default_caps = ("code",) if ctype == "agentic_harvest" else ("math", "general", "nlp", "code")
    caps = v.str_list(f"{w}.capability", c.get("capability", list(default_caps)), CAPABILITIES)
    langs = v.str_list(f"{w}.languages", c.get("languages", ["en"]), LANGUAGES)
    sday, eday = _parse_active_days(v, w, c, days)
    tactics = _parse_tactics(v, f"{w}.tactics", c.get("tactics", {}) or {}, ctype)
    return CampaignSpec(cid, ctype, acc, req, caps, langs, sday, eday, tactics)


def _parse_active_days(v: _V, w: str, c: dict, days: float) -> tuple[float, float | None]:
    sday = v.number(f"{w}.start_day", c.get("start_day", 0.0), 0.0, days)
    eday = c.get("end_day")
    if eday is not None:
        eday = v.number(f"{w}.end_day", eday, 0.0, days)
        if eday <= sday:
            v.fail(f"{w}.end_day", f"must be after start_day ({sday}); got {eday}")
    return sday, eday


def _parse_tactics(v: _V, w: str, raw: Any, ctype: str) -> dict[str, Any]:
    """The campaign type's default tactics, overridden by the validated ``raw`` ones."""
    defaults = TACTIC_DEFAULTS[ctype]
    tactics = dict(defaults)
    for k, x in v.mapping(w, raw, tuple(defaults)).items():
        tactics[k] = _parse_tactic(v, f"{w}.{k}", k, x)
    if tactics["cot"] + tactics["rubric"] + tactics["sensitive_rewrite"] > 1.0 + 1e-9:
        v.fail(w, "cot + rubric + sensitive_rewrite must not exceed 1")
    return tactics


def _parse_tactic(v: _V, tw: str, k: str, x: Any) -> Any:
    if k in _TACTIC_RANGES:
        lo, hi = _TACTIC_RANGES[k]
        return v.number(tw, x, lo, hi)
    if k in _TACTIC_CHOICES:
        return v.choice(tw, x, _TACTIC_CHOICES[k])
    if k == "wordings":
        return v.integer(tw, x, 1, 500)
    if k in ("tools", "local_hours"):
        if not isinstance(x, bool):
            v.fail(tw, f"must be true or false; got {x!r}")
        return x
    return _parse_routes(v, tw, x)  # the only tactic left: routes


def _parse_routes(v: _V, tw: str, x: Any) -> list[str]:
    routes = list(v.str_list(tw, x))
    for r in routes:
        named = r.startswith(("cloud:", "reseller:")) and len(r.split(":", 1)[1]) > 0
        if not (r == "direct" or named):
            v.fail(tw, f"entries must be direct, cloud:<platform> or reseller:<name>; got {r!r}")
    return routes


def _parse_world(v: _V, raw: Any) -> WorldSpec:
    w = v.mapping("world", raw, tuple(WorldSpec.__dataclass_fields__))
    out: dict[str, Any] = _parse_world_weights(v, w)
    if "grammar_seed" in w:
        out["grammar_seed"] = v.integer("world.grammar_seed", w["grammar_seed"])
    if "cloud_hides_client" in w:
        if not isinstance(w["cloud_hides_client"], bool):
            v.fail(
                "world.cloud_hides_client",
                f"must be true or false; got {w['cloud_hides_client']!r}",
            )
        out["cloud_hides_client"] = w["cloud_hides_client"]
    if "diurnal_shift" in w:
        out["diurnal_shift"] = v.number("world.diurnal_shift", w["diurnal_shift"], -12.0, 12.0)
    if "benign_card_sharing" in w:
        out["benign_card_sharing"] = v.number(
            "world.benign_card_sharing", w["benign_card_sharing"], 0.0, 1.0
        )
    if "attack_countries" in w:
        out["attack_countries"] = v.str_list("world.attack_countries", w["attack_countries"])
    if w.get("eval_formats") is not None:
        out["eval_formats"] = v.integer("world.eval_formats", w["eval_formats"], 1, 64)
    return WorldSpec(**out)


def _parse_world_weights(v: _V, w: dict) -> dict[str, dict[str, float]]:
    """The world's sign-up route and verification weights that are given."""
    out = {}
    for key, options in (
        ("attack_routes", SIGNUP_ROUTES),
        ("benign_routes", SIGNUP_ROUTES),
        ("attack_verification", VERIFICATIONS),
    ):
        if key in w:
            m = v.mapping(f"world.{key}", w[key], options)
            out[key] = {k: v.number(f"world.{key}.{k}", x) for k, x in m.items()}
            if sum(out[key].values()) <= 0:
                v.fail(f"world.{key}", "must give a positive weight to at least one entry")
    return out
