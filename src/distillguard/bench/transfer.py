"""The transfer benchmark: measure on random worlds the detector was never tuned on.

``run_transfer`` simulates train and test worlds (``sim.world``), fits whatever the detector
learns on the train worlds only (:mod:`distillguard.scoring.model`), then scores the detector
and the peers on the test worlds. It reports test-world metrics beside in-world (train-world)
ones, per campaign kind and per hard-benign persona. ``holdout_kind`` removes one campaign
kind from every train world (leave-one-kind-out): the test worlds still have it.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InvalidParameterError
from ..progress import make_progress, stage
from ..scoring.model import campaign_kinds
from .harness import run_bench
from .metrics import account_metrics, load_accounts
from .peers import PEERS

DONE = ".transfer-done"
FPRS = (0.001, 0.01)
LEARNED = "distillguard"  # the learned risk model, fitted on the train worlds
HAND_SET = "distillguard-handset"  # hand-set weights and request formula: nothing learned
# The risk model also learns from the first EARLY_DAYS of each train world: a young deployment
# (or a campaign's first days) is a population of its own, with fewer requests per account.
EARLY_DAYS = 2.0
SIZES = ("tiny", "small", "medium", "large")
# How the operator's labelled accounts are picked (bench-transfer runs both per label budget):
QUEUE = "queue"  # the top k of the review queue: what confirming alerts gives
TIP = "tip-off"  # k/2 of the top of the queue and k/2 of one campaign's accounts, known from
# outside (a tip-off, a partner's indicator): the one way labels can reach a kind nobody flagged
LABEL_SCENARIOS = {
    QUEUE: "the top of the review queue",
    TIP: "half the top of the review queue, half one campaign's accounts from a tip-off "
    "(of the held-out kind when there is one)",
}
TIP_SEED = 0  # the tipped campaign and its labelled accounts: fixed, so runs compare


def parse_worlds(text: str, what: str) -> list[int]:
    """``"1-8"``, ``"1,3,5"`` or ``"101-104,110"`` as a sorted list of seeds (or counts)."""
    seeds: set[int] = set()
    try:
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            a, b = int(lo), int(hi or lo)
            if a < 0 or b < a:
                raise ValueError
            seeds.update(range(a, b + 1))
    except ValueError:
        raise InvalidParameterError(
            f"{what} must be seeds like 1-8 or 1,3,5 (non-negative, lo <= hi); got {text!r}"
        ) from None
    return sorted(seeds)


@dataclass
class TransferConfig:
    """What one transfer run measures (validated by :func:`check_config`)."""

    size: str = "small"  # of the test worlds
    train_size: str | None = None  # of the train worlds (default: ``size``)
    train_worlds: list[int] = field(default_factory=lambda: list(range(1, 9)))
    test_worlds: list[int] = field(default_factory=lambda: list(range(101, 105)))
    holdout_kind: str | None = None
    out: Path = Path("bench-results/transfer")
    data_root: Path | None = None  # worlds are simulated once here and reused
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    first_days: float | None = None
    label_budgets: tuple[int, ...] = ()  # operator labels per test world (see scoring.model)

    def command(self) -> str:
        parts = ["distillguard", "bench-transfer", "--size", self.size]
        if self.train_size and self.train_size != self.size:
            parts += ["--train-size", self.train_size]
        parts += ["--train-worlds", _ranges(self.train_worlds)]
        parts += ["--test-worlds", _ranges(self.test_worlds)]
        if self.holdout_kind:
            parts += ["--holdout-kind", self.holdout_kind]
        if self.first_days:
            parts += ["--first-days", f"{self.first_days:g}"]
        if not self.peers:
            parts.append("--no-peers")
        elif set(self.peers) != set(PEERS):
            for p in self.peers:
                parts += ["--peer", p]
        # the CLI's default is 10,50,200: a run without labels must say so to be rerun as it ran
        parts += ["--label-budgets", ",".join(map(str, self.label_budgets))]
        parts += ["--out", str(self.out)]
        if self.data_root:
            parts += ["--data-root", str(self.data_root)]
        return shlex.join(parts)


def _ranges(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def check_config(cfg: TransferConfig) -> None:
    from ..sim.scenario import CAMPAIGN_TYPES

    for flag, size in (("--size", cfg.size), ("--train-size", cfg.train_size or cfg.size)):
        if size not in SIZES:
            raise InvalidParameterError(f"{flag} must be one of {', '.join(SIZES)}; got {size!r}")
    if not cfg.train_worlds or not cfg.test_worlds:
        raise InvalidParameterError("--train-worlds and --test-worlds must name at least one seed")
    shared = set(cfg.train_worlds) & set(cfg.test_worlds)
    if shared:
        raise InvalidParameterError(
            f"train and test worlds must differ; both name seed {min(shared)}"
        )
    if cfg.holdout_kind is not None and cfg.holdout_kind not in CAMPAIGN_TYPES:
        raise InvalidParameterError(
            f"--holdout-kind must be one of {', '.join(CAMPAIGN_TYPES)}; got {cfg.holdout_kind!r}"
        )
    unknown = [p for p in cfg.peers if p not in PEERS]
    if unknown:
        raise InvalidParameterError(f"unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)}")


# ---- worlds ---------------------------------------------------------------------------------
def world_name(size: str, seed: int, holdout: str | None = None) -> str:
    """A random world's folder name: size, seed and the generator version that drew it
    (``small-w3-g2``), so worlds of two generators never share a cache entry. Folders without
    ``-g`` (``small-w3``) are generator 1's."""
    from ..sim.world import generator_version

    name = f"{size}-w{seed}-g{generator_version()}"
    return name + (f"-no-{holdout}" if holdout else "")


def is_done(path: Path) -> bool:
    """Whether ``path`` holds a complete world (or slice) of this generator: its marker names
    the generator version (generator 1's markers hold a bare time)."""
    from ..sim.world import generator_version

    marker = Path(path) / DONE
    return marker.is_file() and marker.read_text().split()[:2] == [
        "generator",
        str(generator_version()),
    ]


def mark_done(path: Path) -> None:
    from ..sim.world import generator_version

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (Path(path) / DONE).write_text(f"generator {generator_version()} {stamp}")


def ensure_world(root: Path, size: str, seed: int, holdout: str | None = None) -> Path:
    """The random world ``seed`` (without campaign kind ``holdout``), simulated once."""
    from ..sim import simulate
    from ..sim.scenario import Scenario
    from ..sim.world import draw_scenario

    path = root / world_name(size, seed, holdout)
    if is_done(path):
        return path
    sc = draw_scenario(size, seed)
    if holdout:
        data = sc.to_dict()
        data["campaigns"] = [c for c in data["campaigns"] if c["type"] != holdout]
        sc = Scenario.from_dict(data, source=f"{sc.source} without {holdout}")
    simulate(sc, out=path, seed=seed, progress=False)
    mark_done(path)
    return path


def detect_world(
    world: Path, out: Path, model_path: Path | None, request_model_path: Path | None = None
) -> Path:
    """``distillguard detect`` on one world with the given risk and request models (None:
    the hand-set scorer and request formula); returns the findings."""
    import shutil
    import tempfile

    from ..engines.embedded import detect
    from ..policy import Policy

    policy = Policy.from_dict(
        {
            "scoring": {
                "risk_model": str(model_path or "none"),
                "request_model": str(request_model_path or "none"),
            }
        }
    )
    done = Path(out) / ".detect-done"
    key = f"{policy.version} {model_fingerprint(model_path)}"
    if request_model_path is not None:
        key += f" {model_fingerprint(request_model_path)}"
    if done.is_file() and done.read_text() == key and (out / "request_inputs.parquet").is_file():
        return out  # the same world, detected with the same policy and models: reuse it
    store = Path(tempfile.mkdtemp(prefix="dg-transfer-store-"))
    try:
        logs = sorted(world.glob("requests.*"))
        detect(
            logs, out, accounts=world / "accounts.csv", store=store, policy=policy, progress=False
        )
        export_model_inputs(store, out)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    done.write_text(key)
    return out


def handset_findings(root: Path, world: Path) -> Path:
    """Where the hand-set detection of a world is kept: beside the worlds, so every transfer
    run and ``train`` over the same world reuses it (it depends on the world alone). The
    cache is keyed by policy and model, not by code: remove the folder after changing the
    detector itself."""
    return Path(root) / "findings" / world.name / HAND_SET


def model_fingerprint(model_path: Path | None) -> str:
    """A model's content hash (its weights), so a retrained model is never reused by mistake."""
    import hashlib

    if model_path is None:
        return "none"
    blob = Path(model_path).with_suffix(".pkl")
    return hashlib.sha256(blob.read_bytes()).hexdigest()[:16] if blob.is_file() else "missing"


def export_model_inputs(store: Path, out: Path) -> Path:
    """The store's ``model_inputs`` and ``request_inputs`` tables as ``OUT/<table>.parquet``
    (the training data of the account and request models)."""
    import duckdb

    con = duckdb.connect(str(Path(store) / "store.duckdb"), read_only=True)
    try:
        for table in ("model_inputs", "request_inputs"):
            target = str(Path(out) / f"{table}.parquet").replace(chr(39), chr(39) * 2)
            con.execute(f"COPY {table} TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
    return Path(out) / "model_inputs.parquet"


def rescore(findings: Path, model_path: Path, out: Path) -> Path:
    """The accounts of a hand-set ``detect`` run rescored by the learned model from its saved
    inputs (cheaper than detecting again: nothing before the risk model changes)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..policy import default_policy
    from ..scoring.model import LearnedAccountScorer, RiskModel

    pol = default_policy().scoring
    inputs = pq.read_table(Path(findings) / "model_inputs.parquet")
    sc = LearnedAccountScorer(
        RiskModel.load(model_path), pol.review_threshold, pol.attack_threshold
    )
    sc.fit(inputs)
    old = pacsv.read_csv(Path(findings) / "accounts.csv").select(["account_id", "cluster_id"])
    new = pa.table(
        {"account_id": inputs.column("account_id"), "risk": sc.risk_, "verdict": sc.verdict_}
    ).join(old, "account_id", join_type="left outer")
    out.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(new, out / "accounts.csv")
    return out


def labelled_recall(
    findings: Path,
    world: Path,
    model_path: Path,
    k: int,
    scenario: str = QUEUE,
    focus_kind: str | None = None,
) -> dict[str, Any]:
    """The model adapted to ``k`` operator labels picked as ``scenario`` says (see
    :data:`LABEL_SCENARIOS`), labelled truthfully. Metrics on the accounts the operator did not
    label, before and after adapting: recall, attackers at `attack`, found share per campaign
    kind, benign accounts at `attack` per persona, and (tip-off) the rest of the tipped campaign.
    ``focus_kind``: the tip-off names a campaign of this kind (the held-out one) if the world
    has one."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ..policy import default_policy
    from ..scoring.label_cap import raised_to_review
    from ..scoring.model import RiskModel, align
    from .metrics import recall_at_fpr

    inputs = pq.read_table(Path(findings) / "model_inputs.parquet")
    truth = pacsv.read_csv(
        world / "labels.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"campaign_id": pa.string(), "persona": pa.string()}
        ),
    ).select(["account_id", "is_attack", "campaign_id", "persona"])
    inputs = inputs.join(truth, "account_id", join_type="inner")
    y = np.asarray(inputs.column("is_attack").to_numpy(), int)
    campaign = np.asarray(inputs.column("campaign_id").fill_null("").to_pylist(), object)
    kinds = campaign_kinds(world)
    kind = np.array([kinds.get(c, "?") if c else "" for c in campaign], object)
    model = RiskModel.load(model_path)
    X = align(inputs, model.names_)
    before = model.predict_risk(X)
    picked, tipped = pick_labelled(before, y, campaign, kind, k, scenario, focus_kind)
    labels = np.full(len(y), -1)
    labels[picked] = y[picked]
    rest = np.setdiff1d(np.arange(len(y)), picked)
    if (labels == 1).any():
        model.adapt(X, labels)
    # The risk verdicts read: the adapter's under the review cap (labels alone never make an
    # attack); ``adapted`` is the adapter's own, for what the cap held at review.
    attack_line = default_policy().scoring.attack_threshold
    risk, adapted, _ = model.verdict_risk(X, attack_line)
    res = {f"recall_at_fpr_{f * 100:g}%": recall_at_fpr(y[rest] == 1, risk[rest], f) for f in FPRS}
    res["before"] = recall_at_fpr(y[rest] == 1, before[rest], 0.001)["recall"]
    persona = np.asarray(inputs.column("persona").fill_null("").to_pylist(), object)
    lines = (res["recall_at_fpr_0.1%"]["threshold"], _threshold(y[rest], before[rest]))
    res.update(_verdict_shifts(before, risk, y, rest, kind, persona, lines))
    held = rest[raised_to_review(risk[rest], adapted[rest], attack_line)]
    res["held_at_review"] = [int(np.sum(y[held] == 1)), int(np.sum(y[held] == 0))]
    if scenario == TIP:
        left = np.setdiff1d(tipped, picked)
        res["tipped"] = {
            "kind": str(kind[tipped[0]]) if len(tipped) else None,
            "n": int(len(left)),
            "found_before": int(np.sum(before[left] >= _review_line())),
            "found": int(np.sum(risk[left] >= _review_line())),
        }
    return {
        **res,
        "roc_auc": float("nan"),
        "pr_auc": float("nan"),
        "attack_precision": float("nan"),
        "attack_recall": float("nan"),
        "attack_fpr": float("nan"),
        "personas": {},
        "kinds": {},
        "labels": k,
        "scenario": scenario,
    }


def pick_labelled(
    before: np.ndarray,
    y: np.ndarray,
    campaign: np.ndarray,
    kind: np.ndarray,
    k: int,
    scenario: str,
    focus_kind: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(the rows the operator labels, the tipped campaign's rows; empty for ``queue``)."""
    order = np.argsort(-before, kind="stable")
    if scenario == QUEUE or k == 0:
        return order[:k], np.array([], np.intp)
    if scenario != TIP:
        raise InvalidParameterError(f"unknown label scenario {scenario!r}")
    rng = np.random.default_rng(TIP_SEED)
    tipped = tipped_campaign(y, campaign, kind, focus_kind, rng)
    # Half the budget, and at most half the campaign: the rest is what the tip should find.
    n_tip = min(k // 2, max(len(tipped) // 2, 1)) if len(tipped) else 0
    tip = np.sort(rng.choice(tipped, n_tip, replace=False)) if n_tip else tipped[:0]
    queue = order[~np.isin(order, tip)][: k - n_tip]
    return np.r_[tip, queue].astype(np.intp), tipped


def tipped_campaign(
    y: np.ndarray,
    campaign: np.ndarray,
    kind: np.ndarray,
    focus_kind: str | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The rows of one campaign drawn at random (of ``focus_kind`` when the world has one),
    among campaigns of two accounts or more (a tip about one account leaves nothing to find)."""
    attack = (y == 1) & (campaign != "")
    ids, counts = np.unique(campaign[attack], return_counts=True)
    ids = ids[counts >= 2]
    focus = [c for c in ids if kind[np.flatnonzero(campaign == c)[0]] == focus_kind]
    pool = sorted(focus or ids)
    if not pool:
        return np.array([], np.intp)
    return np.flatnonzero(campaign == rng.choice(pool)).astype(np.intp)


def _review_line() -> float:
    from ..policy import default_policy

    return default_policy().scoring.review_threshold


def _verdict_shifts(
    before: np.ndarray,
    risk: np.ndarray,
    y: np.ndarray,
    rest: np.ndarray,
    kind: np.ndarray,
    persona: np.ndarray,
    fpr_lines: tuple[float, float],
) -> dict[str, Any]:
    """On the unlabelled rows, before → after: attackers at `attack` (share); per campaign
    kind found (risk at review or above), at `attack` and ranked above the 0.1%-FPR line
    (``fpr_lines``: after, before; a rank measure, which a shift of every risk cannot move);
    benign accounts at `attack` per persona (counts, pooled over worlds by :func:`aggregate`)."""
    from ..policy import default_policy

    attack, review = default_policy().scoring.attack_threshold, _review_line()
    attackers = rest[y[rest] == 1]
    res: dict[str, Any] = {
        "attack_share_before": float(np.mean(before[attackers] >= attack))
        if len(attackers)
        else None,
        "attack_share": float(np.mean(risk[attackers] >= attack)) if len(attackers) else None,
    }
    res["label_kinds"] = {
        str(kd): {
            "n": int(len(rows)),
            "found_before": int(np.sum(before[rows] >= review)),
            "found": int(np.sum(risk[rows] >= review)),
            "attack_before": int(np.sum(before[rows] >= attack)),
            "attack": int(np.sum(risk[rows] >= attack)),
            "ranked_before": int(np.sum(before[rows] > fpr_lines[1])),
            "ranked": int(np.sum(risk[rows] > fpr_lines[0])),
        }
        for kd in sorted(set(kind[attackers]))
        for rows in [attackers[kind[attackers] == kd]]
    }
    benign = rest[y[rest] == 0]
    res["benign_at_attack"] = {
        str(p): [int(np.sum(before[rows] >= attack)), int(np.sum(risk[rows] >= attack))]
        for p in sorted(set(persona[benign]))
        for rows in [benign[persona[benign] == p]]
    }
    res["benign_at_review"] = [
        int(np.sum(before[benign] >= review)),
        int(np.sum(risk[benign] >= review)),
    ]
    return res


def _threshold(is_attack: np.ndarray, risk: np.ndarray) -> float:
    from .metrics import recall_at_fpr

    return recall_at_fpr(is_attack == 1, risk, 0.001)["threshold"]


def early_detection_of(
    world: Path, out: Path, model_path: Path, days: float, request_model_path: Path | None = None
) -> dict[str, Any]:
    """``detect`` on the first ``days`` of the world alone: which campaign accounts it flags."""
    from .metrics import early_detection
    from .runner import slice_first_days

    sliced, active = slice_first_days(sorted(world.glob("requests.*")), days, out / "world")
    link_world_files(world, sliced.parent)
    findings = detect_world(sliced.parent, out / "findings", model_path, request_model_path)
    table = load_accounts(findings / "accounts.csv", world / "labels.csv")
    return {"days": days, **early_detection(table, active)}


def link_world_files(world: Path, to: Path) -> None:
    """A slice of ``world`` in ``to`` shares its account table, labels and campaign summary."""
    for name in ("accounts.csv", "labels.csv", "sim_summary.json"):
        link = to / name
        if not link.exists() and (world / name).exists():
            link.symlink_to((world / name).resolve())


def early_slice(root: Path, world: Path, days: float) -> Path:
    """The first ``days`` of ``world`` as a world of its own beside it, sliced once."""
    from .runner import slice_first_days

    out = Path(root) / f"{world.name}-first{days:g}d"
    if not is_done(out):
        slice_first_days(sorted(world.glob("requests.*")), days, out)
        link_world_files(world, out)
        mark_done(out)
    return out


def fit_with_early_slices(
    root: Path,
    worlds: list[Path],
    findings: list[Path],
    out: Path,
    days: float = EARLY_DAYS,
    balance_kinds: bool = False,
) -> Path:
    """Fit the risk model on the train worlds and on their first ``days`` (each slice
    calibrated out of world together with its world, never predicted by a model that saw it)."""
    from ..scoring.model import fit_risk_model

    slices = [early_slice(root, w, days) for w in worlds]
    slice_findings = [detect_world(s, handset_findings(root, s), None) for s in slices]
    groups = [w.name for w in worlds] * 2
    return fit_risk_model(worlds + slices, findings + slice_findings, out, groups, balance_kinds)


# ---- metrics --------------------------------------------------------------------------------
def world_metrics(findings: Path, world: Path) -> dict[str, Any]:
    """Account metrics of one detector on one world, with campaigns folded into kinds."""
    m = account_metrics(load_accounts(findings / "accounts.csv", world / "labels.csv"))
    m["kinds"] = fold_kinds(m["campaigns"], campaign_kinds(world))
    return m


def fold_kinds(campaigns: dict[str, dict], kinds: dict[str, str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cid, c in campaigns.items():
        k = out.setdefault(kinds.get(cid, "?"), {"n": 0, "flagged": 0.0, "attack": 0.0})
        k["n"] += c["n"]
        k["flagged"] += c["found_flagged"] * c["n"]
        k["attack"] += c["found_attack"] * c["n"]
    return out


def _mean(xs: list[float]) -> float:
    x = np.asarray([v for v in xs if v is not None], float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


def _min(xs: list[float]) -> float:
    x = np.asarray(xs, float)
    x = x[~np.isnan(x)]
    return float(x.min()) if len(x) else float("nan")


def aggregate(per_world: list[dict[str, Any]]) -> dict[str, Any]:
    """Means (and worst case) over worlds; kinds and personas pooled over accounts."""
    ok = [m for m in per_world if "error" not in m]
    if not ok:
        return {"error": "; ".join(m["error"] for m in per_world) or "no worlds"}
    rec = [m["recall_at_fpr_0.1%"]["recall"] for m in ok]
    rec1 = [m["recall_at_fpr_1%"]["recall"] for m in ok]
    res: dict[str, Any] = {
        "n_worlds": len(ok),
        "recall_at_0.1%_fpr": _mean(rec),
        "recall_at_0.1%_fpr_min": _min(rec),
        "recall_at_1%_fpr": _mean(rec1),
        "roc_auc": _mean([m["roc_auc"] for m in ok]),
        "pr_auc": _mean([m["pr_auc"] for m in ok]),
        "attack_precision": _mean([m["attack_precision"] for m in ok]),
        "attack_recall": _mean([m["attack_recall"] for m in ok]),
        "attack_fpr": _mean([m["attack_fpr"] for m in ok]),
    }
    kinds: dict[str, dict] = {}
    personas: dict[str, dict] = {}
    for m in ok:
        for k, v in m.get("kinds", {}).items():
            acc = kinds.setdefault(k, {"n": 0, "flagged": 0.0, "attack": 0.0})
            for key in acc:
                acc[key] += v[key]
        for p, v in m["personas"].items():
            acc = personas.setdefault(p, {"n": 0, "attack": 0.0, "flagged": 0.0})
            acc["n"] += v["n"]
            acc["attack"] += v["attack_fpr"] * v["n"]
            acc["flagged"] += v["flag_fpr"] * v["n"]
    res["kinds"] = {
        k: {"n": v["n"], "found": v["flagged"] / v["n"], "attack": v["attack"] / v["n"]}
        for k, v in sorted(kinds.items())
        if v["n"]
    }
    res["personas"] = {
        p: {"n": v["n"], "attack_fpr": v["attack"] / v["n"], "flag_fpr": v["flagged"] / v["n"]}
        for p, v in sorted(personas.items())
        if v["n"]
    }
    if any("before" in m for m in ok):  # operator-label rows: the same accounts, unadapted
        res["recall_at_0.1%_fpr_before"] = _mean([m.get("before") for m in ok])
        for key in ("attack_share_before", "attack_share"):
            res[key] = _mean([m.get(key) for m in ok])
        res.update(_pool_label_counts(ok))
    mixed = [m["mixed"] for m in ok if m.get("mixed")]
    if mixed:
        res["mixed_request_recall"] = _mean([x["recall"] for x in mixed])
        res["mixed_request_precision"] = _mean([x["precision"] for x in mixed])
    early = [m["early"] for m in ok if m.get("early") and "error" not in m["early"]]
    if early:
        res["early_flagged"] = _mean([e["flagged_of_all"] for e in early])
        res["early_flagged_of_active"] = _mean([e.get("flagged_of_active") for e in early])
    return res


def _pool_label_counts(ok: list[dict[str, Any]]) -> dict[str, Any]:
    """Operator-label rows: per-kind, per-persona and tipped-campaign counts summed over worlds."""
    kinds: dict[str, dict[str, int]] = {}
    benign: dict[str, list[int]] = {}
    tipped: dict[str, int] = {}
    review, held = [0, 0], [0, 0]
    for m in ok:
        for kd, v in m.get("label_kinds", {}).items():
            acc = kinds.setdefault(kd, dict.fromkeys(v, 0))
            for key in v:
                acc[key] += v[key]
        for p, (b, a) in m.get("benign_at_attack", {}).items():
            acc2 = benign.setdefault(p, [0, 0])
            acc2[0] += b
            acc2[1] += a
        for j, v in enumerate(m.get("benign_at_review", [])):
            review[j] += v
        for j, v in enumerate(m.get("held_at_review", [])):
            held[j] += v
        for key in ("n", "found_before", "found"):
            tipped[key] = tipped.get(key, 0) + (m.get("tipped") or {}).get(key, 0)
    out: dict[str, Any] = {
        "label_kinds": kinds,
        "benign_at_attack": benign,
        "benign_at_review": review,
        "held_at_review": held,
    }
    if any("tipped" in m for m in ok):
        out["tipped"] = tipped
    return out


def train_risk_model(
    sizes: list[str], seeds: list[int], root: Path, out: Path, balance_kinds: bool = False
) -> Path:
    """Simulate (or reuse) the worlds ``seeds`` at each size, detect with hand-set weights to
    get the model inputs, and fit the risk model and, beside it (``request-model.json``), the
    request model: the one command behind the shipped models. Several sizes teach them
    deployments of several sizes (percentiles of 200 accounts are coarser than of 20,000), and
    each world's first days teach the risk model a young deployment (:func:`fit_with_early_slices`).
    ``balance_kinds``: every campaign kind weighs the same in each world (issue 11)."""
    from ..scoring.request_model import fit_request_model

    bad = [s for s in sizes if s not in SIZES]
    if bad or not sizes:
        raise InvalidParameterError(f"--size must be one of {', '.join(SIZES)}; got {bad or sizes}")
    if len(seeds) < 2:
        raise InvalidParameterError("train needs at least two worlds (calibration is out-of-world)")
    prog = make_progress(True)
    with prog, stage(prog, "train: worlds", total=len(seeds) * len(sizes)) as task:
        worlds, findings = [], []
        for size in sizes:
            for s in seeds:
                w = ensure_world(Path(root), size, s)
                worlds.append(w)
                findings.append(detect_world(w, handset_findings(Path(root), w), None))
                prog.advance(task)
    fit_request_model(worlds, findings, request_model_path(Path(out)))
    return fit_with_early_slices(
        Path(root), worlds, findings, Path(out), balance_kinds=balance_kinds
    )


def request_model_path(risk_model: Path) -> Path:
    """Where the request model is kept: beside the risk model's manifest."""
    return Path(risk_model).with_name("request-model.json")


# ---- the run --------------------------------------------------------------------------------
def run_transfer(cfg: TransferConfig, progress: bool = True) -> dict[str, Any]:
    """Simulate, train on train worlds, measure on test worlds; writes transfer.{json,md,html}."""
    from ..scoring.request_model import fit_request_model

    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(cfg.data_root) if cfg.data_root else out / "worlds"
    result: dict[str, Any] = {
        "command": cfg.command(),
        "size": cfg.size,
        "train_worlds": cfg.train_worlds,
        "test_worlds": cfg.test_worlds,
        "holdout_kind": cfg.holdout_kind,
        "first_days": cfg.first_days,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    prog = make_progress(progress)
    with prog:
        n_worlds = len(cfg.train_worlds) + len(cfg.test_worlds)
        with stage(prog, "transfer: simulating worlds", total=n_worlds) as task:
            train = []
            for s in cfg.train_worlds:
                train.append(ensure_world(root, cfg.train_size or cfg.size, s, cfg.holdout_kind))
                prog.advance(task)
            test = []
            for s in cfg.test_worlds:
                test.append(ensure_world(root, cfg.size, s))
                prog.advance(task)
        with stage(prog, "transfer: features of the train worlds", total=len(train)) as task:
            train_findings = []
            for w in train:
                train_findings.append(detect_world(w, handset_findings(root, w), None))
                prog.advance(task)
        with stage(prog, "transfer: fitting the risk model on the train worlds"):
            model_path = fit_with_early_slices(root, train, train_findings, out / "risk-model.json")
        with stage(prog, "transfer: fitting the request model on the train worlds"):
            fit_request_model(train, train_findings, request_model_path(model_path))
        result["model"] = str(model_path)
        result["request_model"] = str(request_model_path(model_path))
        with stage(prog, "transfer: in-world (train) scores", total=len(train)) as task:
            in_world = []
            for w, f in zip(train, train_findings, strict=True):
                scored = rescore(f, model_path, out / "in-world" / w.name)
                in_world.append(world_metrics(scored, w))
                prog.advance(task)
        with stage(prog, "transfer: test worlds", total=len(test)) as task:
            per_det: dict[str, list[dict]] = {
                LEARNED: [],
                HAND_SET: [],
                **{p: [] for p in cfg.peers},
            }
            for w in test:
                _test_world(cfg, w, out, model_path, per_det)
                prog.advance(task)
    result["in_world"] = {"distillguard": aggregate(in_world)}
    result["test"] = {name: aggregate(ms) for name, ms in per_det.items()}
    result["per_world"] = {name: ms for name, ms in per_det.items()}
    write_report(result, out)
    return result


def label_row(k: int, scenario: str) -> str:
    """The result row of ``k`` operator labels picked as ``scenario``."""
    return f"{LEARNED} +{k} labels" + ("" if scenario == QUEUE else f" ({scenario})")


def _test_world(
    cfg: TransferConfig, world: Path, out: Path, model_path: Path, per_det: dict[str, list]
) -> None:
    req_model = request_model_path(model_path)
    findings = detect_world(
        world, out / "test" / world.name / "distillguard", model_path, req_model
    )
    for scenario in LABEL_SCENARIOS:
        for k in cfg.label_budgets:
            per_det.setdefault(label_row(k, scenario), []).append(
                labelled_recall(findings, world, model_path, k, scenario, cfg.holdout_kind)
            )
    early = None
    if cfg.first_days:
        early = early_detection_of(
            world, out / "test" / world.name / "early", model_path, cfg.first_days, req_model
        )
    bench = run_bench(
        world,
        detectors=list(cfg.peers) or [LEARNED],  # an empty list would mean every detector
        findings=findings,
        out=out / "test" / world.name / "bench",
        first_days=cfg.first_days,
        progress=False,
    )
    kinds = campaign_kinds(world)
    hand = detect_world(world, handset_findings(world.parent, world), None)
    per_det[HAND_SET].append(world_metrics(hand, world))
    for name, entry in bench["detectors"].items():
        if "metrics" not in entry:
            per_det[name].append({"error": entry.get("error", "no metrics")})
            continue
        m = dict(entry["metrics"])
        m["kinds"] = fold_kinds(m["campaigns"], kinds)
        m["mixed"] = entry.get("mixed")
        m["early"] = early if name == LEARNED else entry.get("early")
        per_det[name].append(m)


# ---- report ---------------------------------------------------------------------------------
def _p(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Transfer: {result['size']} worlds, train {_ranges(result['train_worlds'])}, "
        f"test {_ranges(result['test_worlds'])}"
        + (f", leave-one-kind-out: {result['holdout_kind']}" if result["holdout_kind"] else ""),
        "",
        f"`{result['command']}`",
        "",
        "| detector | where | recall @0.1% FPR (mean / worst) | recall @1% FPR | ROC-AUC | PR-AUC | attack P / R | attack FPR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("distillguard", "in-world (train)", result["in_world"]["distillguard"])]
    rows += [
        (name, "test worlds", agg)
        for name, agg in result["test"].items()
        if "recall_at_0.1%_fpr_before" not in agg  # label rows have their own lines
    ]
    for name, where, a in rows:
        if "error" in a:
            lines.append(f"| {name} | {where} | error: {a['error'][:80]} | | | | | |")
            continue
        lines.append(
            f"| {name} | {where} | {_p(a['recall_at_0.1%_fpr'])} / {_p(a['recall_at_0.1%_fpr_min'])} "
            f"| {_p(a['recall_at_1%_fpr'])} | {a['roc_auc']:.3f} | {a['pr_auc']:.3f} "
            f"| {_p(a['attack_precision'])} / {_p(a['attack_recall'])} | {_p(a['attack_fpr'])} |"
        )
    lines += _label_lines(result)
    lines += ["", _kind_table(result), "", _persona_table(result)]
    dg = result["test"].get("distillguard", {})
    if "mixed_request_recall" in dg:
        lines += [
            "",
            f"Request level in mixed accounts (test worlds): recall {_p(dg['mixed_request_recall'])}, "
            f"precision {_p(dg['mixed_request_precision'])}.",
        ]
    if "early_flagged_of_active" in dg:
        lines += [
            "",
            f"Early detection (a run on the first {result.get('first_days', 2):g} days alone): "
            f"{_p(dg['early_flagged_of_active'])} of the campaign accounts active then are "
            f"flagged ({_p(dg['early_flagged'])} of all campaign accounts).",
        ]
    return "\n".join(lines) + "\n"


def _label_lines(result: dict[str, Any]) -> list[str]:
    """Operator labels, one table per scenario: on the accounts left unlabelled, before → after
    adapting (`learn`)."""
    rows = [(n, a) for n, a in result["test"].items() if "recall_at_0.1%_fpr_before" in a]
    if not rows:
        return []
    focus = result.get("holdout_kind")
    out = []
    for scenario, how in LABEL_SCENARIOS.items():
        mine = [(n, a) for n, a in rows if n.endswith(" labels") == (scenario == QUEUE)]
        if not mine:
            continue
        out += [
            "",
            f"Operator labels, scenario `{scenario}` ({how}; labelled truthfully). On the "
            "accounts left unlabelled, before → after `learn`:",
            "",
            "| labels | recall @0.1% FPR | attackers at `attack` | "
            + (f"held-out {focus} found / attack / above the 0.1%-FPR line | " if focus else "")
            + ("rest of the tipped campaign found | " if scenario == TIP else "")
            + "benign at `review` or above | benign at `attack` (personas up) | "
            + "held at `review` by the cap: attackers / honest |",
            "|---" * (6 + bool(focus) + (scenario == TIP)) + "|",
        ]
        out += [_label_row_line(n, a, focus, scenario) for n, a in mine]
    return out


def _label_row_line(name: str, a: dict[str, Any], focus: str | None, scenario: str) -> str:
    cells = [
        name.split("+")[-1].split(" ")[0],
        f"{_p(a['recall_at_0.1%_fpr_before'])} → {_p(a['recall_at_0.1%_fpr'])}",
        f"{_p(a.get('attack_share_before'))} → {_p(a.get('attack_share'))}",
    ]
    if focus:
        v = a.get("label_kinds", {}).get(focus)
        cells.append(
            f"{_frac(v['found_before'], v['n'])} / {_frac(v['attack_before'], v['n'])} / "
            f"{_frac(v['ranked_before'], v['n'])} → {_frac(v['found'], v['n'])} / "
            f"{_frac(v['attack'], v['n'])} / {_frac(v['ranked'], v['n'])} (n={v['n']})"
            if v
            else "—"
        )
    if scenario == TIP:
        t = a.get("tipped") or {}
        n = t.get("n", 0)
        cells.append(
            f"{_frac(t.get('found_before', 0), n)} → {_frac(t.get('found', 0), n)} (n={n})"
        )
    review = a.get("benign_at_review") or [0, 0]
    cells.append(f"{review[0]} → {review[1]}")
    benign = a.get("benign_at_attack", {})
    up = [p for p, (b, x) in benign.items() if x > b]
    cells.append(
        f"{sum(b for b, _ in benign.values())} → {sum(x for _, x in benign.values())}"
        + (f" ({', '.join(up)})" if up else "")
    )
    held = a.get("held_at_review") or [0, 0]
    cells.append(f"{held[0]} / {held[1]}")
    return "| " + " | ".join(cells) + " |"


def _frac(num: int, n: int) -> str:
    return _p(num / n) if n else "—"


def _kind_table(result: dict[str, Any]) -> str:
    names = [n for n, a in result["test"].items() if a.get("kinds")]
    kinds = sorted({k for n in names for k in result["test"][n]["kinds"]})
    head = "| campaign kind | distillguard in-world found / attack | " + " | ".join(
        f"{n} test found" if n != "distillguard" else "distillguard test found / attack"
        for n in names
    )
    lines = [head + " |", "|---" * (len(names) + 2) + "|"]
    inw = result["in_world"]["distillguard"].get("kinds", {})
    for k in kinds:
        cells = [k]
        iw = inw.get(k)
        cells.append(f"{_p(iw['found'])} / {_p(iw['attack'])}" if iw else "(held out)")
        for n in names:
            v = result["test"][n]["kinds"].get(k)
            if v is None:
                cells.append("—")
            elif n == "distillguard":
                cells.append(f"{_p(v['found'])} / {_p(v['attack'])}")
            else:
                cells.append(_p(v["found"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _persona_table(result: dict[str, Any]) -> str:
    dg = result["test"].get("distillguard", {})
    lines = ["| persona (test worlds) | accounts | `attack` FPR | flagged (attack or review) |"]
    lines.append("|---|---|---|---|")
    for p, v in dg.get("personas", {}).items():
        lines.append(f"| {p} | {v['n']} | {_p(v['attack_fpr'])} | {_p(v['flag_fpr'])} |")
    return "\n".join(lines)


def write_report(result: dict[str, Any], out: Path) -> None:
    (out / "transfer.json").write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    (out / "transfer.md").write_text(render_markdown(result))
    _write_plot(result, out / "transfer.html")


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def _write_plot(result: dict[str, Any], path: Path) -> None:
    """Per campaign kind: share found, in-world against test worlds, beside each peer."""
    import plotly.graph_objects as go

    fig = go.Figure()
    series = [("distillguard in-world", result["in_world"]["distillguard"])]
    series += [(f"{n} test", a) for n, a in result["test"].items()]
    kinds = sorted({k for _, a in series for k in a.get("kinds", {})})
    for name, agg in series:
        ks = agg.get("kinds", {})
        fig.add_bar(name=name, x=kinds, y=[ks.get(k, {}).get("found", 0.0) for k in kinds])
    fig.update_layout(
        title="Campaign accounts found (attack or review): train worlds vs unseen test worlds",
        barmode="group",
        yaxis={"tickformat": ".0%", "range": [0, 1]},
    )
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
