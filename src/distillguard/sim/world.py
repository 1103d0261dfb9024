"""Random worlds: a whole scenario drawn from the priors of ``sim/priors.yaml``.

``draw_scenario("small", seed=7)`` gives a world no preset describes: its own population
sizes and habits, networks, sign-up routes, campaign tactics and (through ``sim.grammar``)
prompt wordings. Benchmarks train on some seeds and test on others, so a number measured on
test worlds is a number the code was not tuned on.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ScenarioError
from .scenario import (
    CAMPAIGN_TYPES,
    G4_PERSONAS,
    GROUP_PERSONAS,
    HARD_BENIGN_PERSONAS,
    PRESETS,
    TACTIC_DEFAULTS,
    Scenario,
)

PRIORS_FILE = Path(__file__).with_name("priors.yaml")
# The random-world generator's version: bump it whenever a seed's world changes, so cached
# worlds of another version are never mixed with new ones (bench/transfer.py names worlds and
# marks them done with it). 2: university classes of every tightness (CLASS_TACTICS). 3: honest
# coordinated groups (company team, eval team, hackathon: GROUP_PERSONAS), drawn when asked for
# (``generator=3``); its ship rule was not met in full (docs/experiments/generator-groups.md),
# so the default stays 2 until it is set to 3 here: the one switch (names, markers, draws).
# 4: honest math teachers and tutoring services (G4_PERSONAS) on top of generator 3, drawn when
# asked for; its ship rule was met (docs/experiments/generator-personas.md), the default is the
# lead's to change. 5: generator 4 with every eval account's benchmark prompts in one of
# ``world.eval_formats`` harness formats, drawn per world (docs/experiments/eval-formats.md;
# its rule was met too).
# ``DISTILLGUARD_GENERATOR`` overrides it for one run (``generator_version``).
GENERATOR_VERSION = 2
LATEST_GENERATOR = 5  # the newest generator ``draw_scenario`` can draw
GENERATOR_ENV = "DISTILLGUARD_GENERATOR"


def generator_version() -> int:
    """The generator random worlds are drawn with: ``$DISTILLGUARD_GENERATOR`` when set (an
    experiment on a newer generator without editing the default), else ``GENERATOR_VERSION``."""
    raw = os.environ.get(GENERATOR_ENV, "").strip()
    if not raw:
        return GENERATOR_VERSION
    if not raw.isdigit() or not 2 <= int(raw) <= LATEST_GENERATOR:
        raise ScenarioError(
            f"{GENERATOR_ENV} must be an integer in [2, {LATEST_GENERATOR}]; got {raw!r}"
        )
    return int(raw)


_FORMS = ("log", "int", "choice", "dirichlet", "bernoulli")
KIND_CAPABILITIES = {
    "agentic_harvest": ("code",),
    "cloud_route": ("code", "math"),
    "shard": ("math", "nlp", "general"),
}


class Priors:
    """The validated priors file; ``draw(path, rng)`` samples the value at a key path."""

    def __init__(self, data: dict, source: str = str(PRIORS_FILE)):
        self.data = data
        self.source = source
        self._check(data, "")

    @classmethod
    def load(cls, path: str | Path | None = None) -> Priors:
        path = Path(path) if path is not None else PRIORS_FILE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"priors {path}: cannot read: {exc}") from None
        if not isinstance(data, dict):
            raise ScenarioError(f"priors {path}: must be a mapping at the top level")
        return cls(data, str(path))

    def _fail(self, where: str, msg: str) -> None:
        raise ScenarioError(f"priors {self.source}: {where or 'top level'} {msg}")

    def _check(self, node: Any, where: str) -> None:
        """Every leaf must be a number, a [lo, hi] range or one of the forms above."""
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _FORMS:
            form, arg = next(iter(node.items()))
            ok = {
                "log": lambda a: _is_range(a) and a[0] > 0,
                "int": lambda a: _is_range(a) and all(float(x).is_integer() for x in a),
                "choice": lambda a: _is_weights(a),
                "dirichlet": lambda a: _is_weights(a) and all(v > 0 for v in a.values()),
                "bernoulli": lambda a: _is_num(a) and 0 <= a <= 1,
            }[form](arg)
            if not ok:
                self._fail(where, f"has a malformed {form!r} distribution: {arg!r}")
            return
        if isinstance(node, dict):
            for k, v in node.items():
                self._check(v, f"{where}.{k}" if where else str(k))
        elif isinstance(node, list) and node and all(_is_num(x) for x in node):
            if not _is_range(node):
                self._fail(where, f"must be [lo, hi] with lo <= hi; got {node!r}")
        elif not (_is_num(node) or isinstance(node, (str, bool, list))):
            self._fail(where, f"is not a value or a distribution: {node!r}")

    def get(self, path: str) -> Any:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ScenarioError(f"priors {self.source}: missing key {path!r}")
            node = node[part]
        return node

    def draw(self, path: str, rng: np.random.Generator) -> Any:
        return sample(self.get(path), rng)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_range(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 2 and all(map(_is_num, x)) and x[0] <= x[1]


def _is_weights(x: Any) -> bool:
    return isinstance(x, dict) and x and all(_is_num(v) and v >= 0 for v in x.values())


def sample(spec: Any, rng: np.random.Generator) -> Any:
    """One draw from a prior value (see the forms at the top of ``priors.yaml``)."""
    if isinstance(spec, list) and len(spec) == 2 and all(map(_is_num, spec)):
        return float(rng.uniform(spec[0], spec[1]))
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in _FORMS:
        return spec
    form, arg = next(iter(spec.items()))
    if form == "log":
        return float(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))))
    if form == "int":
        return int(rng.integers(int(arg[0]), int(arg[1]) + 1))
    if form == "bernoulli":
        return bool(rng.random() < arg)
    names = list(arg)
    w = np.array([float(arg[k]) for k in names])
    if form == "choice":
        return names[int(rng.choice(len(names), p=w / w.sum()))]
    shares = rng.dirichlet(w)
    return {k: round(float(s), 4) for k, s in zip(names, shares, strict=True)}


def draw_scenario(
    preset: str, seed: int, priors: Priors | None = None, generator: int | None = None
) -> Scenario:
    """The random world ``seed`` at the size of ``preset``, as generator ``generator`` (2 or
    later; None: :func:`generator_version`) draws it; validated like any scenario."""
    generator = generator_version() if generator is None else generator
    if preset not in PRESETS:
        raise ScenarioError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not 2 <= generator <= LATEST_GENERATOR:
        raise ScenarioError(f"generator must be in [2, {LATEST_GENERATOR}]; got {generator}")
    pr = priors or Priors.load()
    rng = np.random.default_rng([seed, 0x5EED])
    size = pr.get(f"sizes.{preset}")
    days = int(sample(size["days"], rng))
    scale = float(size["scale"])
    data = {
        "name": f"random-{preset}-{seed}",
        "description": f"Random world {seed} at {preset} size, drawn from {Path(pr.source).name}",
        "period": {"start": _start(rng).isoformat(), "days": days},
        "models": _models(pr, rng, days),
        "benign": _benign(pr, rng, int(sample(size["benign_accounts"], rng))),
        "hard_benign": _hard_benign(pr, rng, scale, _side_stream(preset, seed)),
        "campaigns": _campaigns(pr, rng, scale, days),
        "world": _world(pr, rng, seed),
    }
    if generator >= 3:
        data["hard_benign"].update(_groups(pr, scale, _side_stream(preset, seed, 3)))
    if generator >= 4:
        side = _side_stream(preset, seed, 4)
        data["hard_benign"].update(_groups(pr, scale, side, G4_PERSONAS, min_accounts=1))
    if generator >= 5:  # more harness formats: only the eval accounts' wording changes
        data["world"]["eval_formats"] = int(
            pr.draw("eval_harness.formats", _side_stream(preset, seed, 5))
        )
    return Scenario.from_dict(data, source=f"<random world {preset}/{seed}>")


def _side_stream(preset: str, seed: int, generator: int = 2) -> np.random.Generator:
    """The stream of what generator ``generator`` added (2: the hard-benign personas'
    tactics; 3: the coordinated groups; 4: teachers and tutoring services): its own per size, so tiny and small worlds of one
    seed draw different groups (the main stream is shared)."""
    return np.random.default_rng([seed, 0x5EED, generator, list(PRESETS).index(preset)])


def _start(rng: np.random.Generator) -> dt.datetime:
    day = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc) + dt.timedelta(
        days=int(rng.integers(0, 300))
    )
    return day


def _models(pr: Priors, rng: np.random.Generator, days: int) -> list[dict]:
    r = pr.draw("models.reasoning_share", rng)
    family = ("orca", "lyra", "vega", "nova", "atlas", "sable")[int(rng.integers(6))]
    v = int(rng.integers(2, 7))
    return [
        {"name": f"{family}-{v}-mini", "share": round(0.6 * (1 - r), 3)},
        {"name": f"{family}-{v}", "share": round(0.4 * (1 - r), 3)},
        {"name": f"{family}-{v}-think", "share": round(r, 3), "reasoning": True},
        {
            "name": f"{family}-{v + 1}",
            "released_day": round(days * pr.draw("models.new_model_day", rng), 2),
            "reasoning": True,
            "adoption": round(pr.draw("models.new_model_adoption", rng), 3),
        },
    ]


def _benign(pr: Priors, rng: np.random.Generator, accounts: int) -> dict:
    keys = ("requests_median", "requests_sigma", "mean_session_turns", "vpn_share", "cloud_share")
    out = {"accounts": accounts, "max_requests": 4000, "mix": pr.draw("benign.mix", rng)}
    out.update({k: round(pr.draw(f"benign.{k}", rng), 4) for k in keys})
    out["new_signups"] = round(pr.draw("benign.new_signups", rng), 4)
    return out


def _hard_benign(
    pr: Priors, rng: np.random.Generator, scale: float, side: np.random.Generator
) -> dict:
    """Hard-benign personas; ``side`` draws their tactics (a stream of its own, so adding
    tactics moves nothing else in the world)."""
    out = {}
    for persona in HARD_BENIGN_PERSONAS:
        p = pr.get(f"hard_benign.{persona}")
        if rng.random() >= p["present"]:
            continue
        acc = max(1, int(round(sample(p["accounts"], rng) * max(scale, 0.3) ** 0.5)))
        per = sample(p["requests_per_account"], rng) * max(scale, 0.1) ** 0.5
        out[persona] = {"accounts": acc, "requests": max(acc, int(acc * per))}
        if persona in ("enterprise_batch", "leaderboard_operator"):
            out[persona]["keys"] = int(rng.integers(2, 6))
        if "tactics" in p:
            drawn = {k: _rounded(sample(v, side)) for k, v in p["tactics"].items()}
            out[persona]["tactics"] = drawn
    return out


def _groups(
    pr: Priors,
    scale: float,
    side: np.random.Generator,
    personas: tuple[str, ...] = GROUP_PERSONAS,
    min_accounts: int = 2,
) -> dict:
    """Personas a generator added (3: the honest coordinated groups; 4: teachers and tutoring
    services), everything drawn from ``side``: present or not, size, volume and tightness."""
    out = {}
    for persona in personas:
        p = pr.get(f"hard_benign.{persona}")
        if side.random() >= p["present"]:
            continue
        acc = sample(p["accounts"], side) * max(scale, 0.3) ** 0.5
        acc = max(min_accounts, int(round(acc)))
        per = sample(p["requests_per_account"], side) * max(scale, 0.1) ** 0.5
        tactics = {k: _rounded(sample(v, side)) for k, v in p["tactics"].items()}
        out[persona] = {"accounts": acc, "requests": max(acc, int(acc * per)), "tactics": tactics}
    return out


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _campaigns(pr: Priors, rng: np.random.Generator, scale: float, days: int) -> list[dict]:
    kinds = pr.get("campaigns.kinds")
    chosen = [k for k in kinds if kinds[k] > 0]
    extra = int(pr.draw("campaigns.extra", rng))
    w = np.array([kinds[k] for k in chosen], float)
    chosen += [chosen[int(i)] for i in rng.choice(len(chosen), size=extra, p=w / w.sum())]
    return [_campaign(pr, rng, kind, i, scale, days) for i, kind in enumerate(chosen)]


def _campaign(
    pr: Priors, rng: np.random.Generator, kind: str, i: int, scale: float, days: int
) -> dict:
    if kind not in CAMPAIGN_TYPES:
        raise ScenarioError(f"priors {pr.source}: campaigns.kinds names unknown kind {kind!r}")
    spec = pr.get(f"campaigns.per_kind.{kind}")
    acc_scale = max(scale, 0.1) ** 0.6
    accounts = max(2, int(round(sample(spec["accounts"], rng) * acc_scale)))
    start = round(days * pr.draw("campaigns.start_day", rng), 2)
    if "requests_per_day" in spec:
        per = sample(spec["requests_per_day"], rng) * (days - start) * 0.6
    else:
        per = sample(spec["requests_per_account"], rng) * max(scale, 0.1) ** 0.4
    pool = list(pr.get("languages.pool"))
    n_lang = min(len(pool), int(pr.draw("languages.per_campaign", rng)))
    langs = ["en"] + [x for x in rng.permutation(pool).tolist() if x != "en"][: n_lang - 1]
    caps = KIND_CAPABILITIES.get(kind, ("math", "general", "nlp", "code"))
    caps = [c for c in caps if rng.random() < 0.7] or [caps[0]]
    return {
        "id": f"{kind[:2]}-{i:02d}",
        "type": kind,
        "accounts": accounts,
        "requests": max(accounts, int(accounts * per)),
        "capability": caps,
        "languages": langs,
        "start_day": start,
        "tactics": _tactics(pr, rng, kind),
    }


def _tactics(pr: Priors, rng: np.random.Generator, kind: str) -> dict:
    fixed = set(pr.get("campaigns.fixed").get(kind, ()))
    own = (pr.get("campaigns").get("kind_tactics") or {}).get(kind, {})
    out = {}
    for key, spec in {**pr.get("campaigns.tactics"), **own}.items():
        if key in fixed or key not in TACTIC_DEFAULTS[kind]:
            continue
        value = sample(spec, rng)
        out[key] = round(value, 3) if isinstance(value, float) else value
    share = out.get("cot", 0) + out.get("rubric", 0) + out.get("sensitive_rewrite", 0)
    if share > 1:
        for key in ("cot", "rubric", "sensitive_rewrite"):
            out[key] = round(out[key] / share, 3) - 0.001
    if "payment_sharing" in out:
        out["payment_sharing"] = max(1.0, out["payment_sharing"])
    return out


def _world(pr: Priors, rng: np.random.Generator, seed: int) -> dict:
    from .plan import ATTACK_COUNTRIES

    n_c = int(pr.draw("campaigns.attack_countries", rng))
    pool = [c for c, _ in ATTACK_COUNTRIES]
    return {
        "grammar_seed": int(seed),
        "attack_routes": pr.draw("campaigns.attack_routes", rng),
        "attack_verification": pr.draw("campaigns.attack_verification", rng),
        "benign_routes": pr.draw("benign.routes", rng),
        "cloud_hides_client": True,  # marketplaces never forward the client (cloud_route)
        "diurnal_shift": round(pr.draw("benign.diurnal_shift", rng), 2),
        "benign_card_sharing": round(pr.draw("benign.card_sharing", rng), 4),
        "attack_countries": rng.permutation(pool)[: min(n_c, len(pool))].tolist(),
    }
