"""Learning from the operator: the deployment's own labels adapt the risk model.

Labels come from CSV files (``account_id`` and ``label`` or ``is_attack``) and from the
console's decisions in the store (a dismissal is a benign label; an unreversed account block
by a person, or an ``attack`` label, is an attack label). ``learn`` fits the model's
deployment adapter (:meth:`RiskModel.adapt`) on them and writes a new model manifest.
"""

from __future__ import annotations

import csv
import sqlite3
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .label_cap import RAISED_TO_REVIEW, raised_to_review
from .model import BUILTIN, RiskModel, align
from .scorer import verdicts

CHANGES_FILE = "learn-changes.csv"

ATTACK_WORDS = frozenset({"1", "attack", "confirmed", "true", "yes", "distiller"})
BENIGN_WORDS = frozenset({"0", "benign", "false_positive", "dismissed", "false", "no"})


def read_label_csv(path: Path) -> dict[str, int]:
    """``account_id → 1 / 0`` from a CSV; an unknown label is an error naming its line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"labels file not found: {path}")
    out: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        key = "label" if "label" in cols else "is_attack" if "is_attack" in cols else None
        if "account_id" not in cols or key is None:
            raise InvalidInputError(
                f"{path}: needs the columns account_id and label (or is_attack); got {sorted(cols)}"
            )
        for line, row in enumerate(reader, start=2):
            value = (row[key] or "").strip().lower()
            if value in ATTACK_WORDS:
                out[row["account_id"]] = 1
            elif value in BENIGN_WORDS:
                out[row["account_id"]] = 0
            else:
                raise InvalidInputError(
                    f"{path}:{line}: label {row[key]!r} is neither attack nor benign "
                    f"(use one of {sorted(ATTACK_WORDS | BENIGN_WORDS)})"
                )
    return out


def console_labels(store: Path) -> dict[str, int]:
    """The console's decisions in ``store/actions.sqlite`` as labels (latest wins)."""
    db = Path(store) / "actions.sqlite"
    if not db.is_file():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        blocks = con.execute(
            "SELECT subject_id, created_at FROM actions WHERE subject_kind = 'account' "
            "AND action = 'block' AND reversed_at IS NULL AND actor NOT LIKE 'policy%'"
        ).fetchall()
        labels = con.execute("SELECT account_id, label, created_at FROM labels").fetchall()
    finally:
        con.close()
    events = [(t, a, 1) for a, t in blocks]
    for a, label, t in labels:
        value = label.strip().lower()
        if value in ATTACK_WORDS or value in BENIGN_WORDS:
            events.append((t, a, 1 if value in ATTACK_WORDS else 0))
    return {a: y for _, a, y in sorted(events)}


def learn(
    store: Path,
    labels: dict[str, int],
    base: str | Path = BUILTIN,
    out: Path | None = None,
    thresholds: tuple[float, float] = (0.5, 0.9),
) -> tuple[Path, dict[str, int]]:
    """Adapt the model ``base`` to the labelled accounts of ``store``; returns the new
    manifest (default ``store/risk-model.json``) and counts of what was used and moved.

    The unlabelled accounts whose verdict the adapted model would change (under
    ``thresholds``: review, attack) are written to ``store/learn-changes.csv`` for review:
    a few labels of one campaign can lift honest accounts too (docs/experiments/
    operator-labels.md), and a false ban is a real harm. Each row splits the change of log-odds
    into the shift every account got and what the account's own evidence brought
    (:func:`change_parts`): a raise by the shift alone is the one to doubt."""
    inputs = _model_inputs(store)
    ids = inputs.column("account_id").to_pylist()
    y = np.array([labels.get(a, -1) for a in ids])
    unknown = len(set(labels) - set(ids))
    model = RiskModel.load(base)
    X = align(inputs, model.names_)
    line = thresholds[1]
    before, stage = model.verdict_risk(X, line, ids)[0], last_stage(model)
    model.adapt(X, y)
    attack_ids = sorted(a for a, v in zip(ids, y, strict=True) if v == 1)
    used = {"store": str(store), "attack": len(attack_ids), "benign": int((y == 0).sum())}
    # The labelled accounts go with the model: verdicts put them at `attack` by label.
    model.manifest_ = {**model.manifest_, "adapted_on": {**used, "attack_accounts": attack_ids}}
    after, adapted, _ = model.verdict_risk(X, line, ids)
    parts = change_parts(model, X, last_stage(model) - stage)
    # The adapter's own risk beside the verdict's: the review cap held these at review.
    held = np.where(raised_to_review(after, adapted, line), RAISED_TO_REVIEW, "")
    parts = {"risk_adapted": adapted, **parts, "capped": held}
    out = Path(out) if out is not None else Path(store) / "risk-model.json"
    model.save(
        out,
        {
            **{k: v for k, v in model.manifest_.items() if k == "worlds"},
            "adapted_on": model.manifest_["adapted_on"],
        },
    )
    moved = write_changes(Path(store) / CHANGES_FILE, ids, y, before, after, thresholds, parts)
    counts = {
        "attack": used["attack"],
        "benign": used["benign"],
        "unlabelled": int((y == -1).sum()),
        "labels_for_unknown_accounts": unknown,
        "held_at_review": int(((held != "") & (y == -1)).sum()),
        **moved,
    }
    return out, counts


def last_stage(model: RiskModel) -> np.ndarray:
    """The model's last stage as weights over (margin, evidence strengths…, 1): the deployment
    adapter's, or the Platt calibration's (which reads the margin only)."""
    adapter = getattr(model, "adapter_", None)
    if adapter is not None:
        return np.r_[np.ravel(adapter.coef_), float(adapter.intercept_[0])]
    cal = model.calibrator_
    n_evidence = len(model._evidence_idx())
    return np.r_[float(cal.coef_[0, 0]), np.zeros(n_evidence), float(cal.intercept_[0])]


def change_parts(model: RiskModel, X: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
    """Each account's log-odds change (``delta``: last stage after - before) in two parts: the
    shift every account at its margin got (intercept and margin slope), and what its own
    evidence strengths brought (the adapter's evidence weights). A raise by the shift has no
    evidence of the account's own behind it: the tip-off's honest accounts at `attack` were
    raised mostly by the shift (docs/experiments/operator-labels.md)."""
    inputs = model._adapter_inputs(X, model.raw_proba(X))
    by_evidence = inputs[:, 1:] * delta[1:-1]
    names = np.array([model.names_[j][3:] for j in model._evidence_idx()], object)
    top = names[np.argmax(by_evidence, axis=1)] if len(names) else np.full(len(X), "", object)
    return {
        "shift_log_odds": delta[0] * inputs[:, 0] + delta[-1],
        "evidence_log_odds": by_evidence.sum(axis=1),
        "top_evidence": np.where(by_evidence.max(axis=1, initial=0.0) > 0, top, ""),
    }


def _model_inputs(store: Path):
    import duckdb

    db = Path(store) / "store.duckdb"
    if not db.is_file():
        raise InvalidInputError(f"{store} is not a distillguard store (run detect first)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        has = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'model_inputs'"
        ).fetchall()[0][0]
        if not has:
            raise InvalidInputError(f"{store} has no model_inputs table (run detect again)")
        return con.sql("SELECT * FROM model_inputs").to_arrow_table()
    finally:
        con.close()


def write_changes(
    path: Path,
    ids: list[str],
    labels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    thresholds: tuple[float, float],
    parts: dict[str, np.ndarray] | None = None,
) -> dict[str, int]:
    """The unlabelled accounts whose verdict moves, most raised first, and those the review
    cap held (``parts["capped"]`` not empty); counts of verdicts moved by direction.
    ``parts``: more columns per account (:func:`change_parts`)."""
    was, now = verdicts(before, *thresholds), verdicts(after, *thresholds)
    parts = parts or {}
    # Held at review by the cap: the adapter alone would have put it at attack.
    held = np.asarray(parts.get("capped", np.full(len(ids), "")), object) != ""
    moved = np.nonzero((labels == -1) & ((was != now) | held))[0]
    moved = moved[np.argsort(before[moved] - after[moved], kind="stable")]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["account_id", "risk_before", "risk_after", "verdict_before", "verdict_after", *parts]
        )
        for i in moved:
            extra = [f"{v[i]:.4f}" if isinstance(v[i], float) else v[i] for v in parts.values()]
            risks = (_risk(before[i], thresholds), _risk(after[i], thresholds))
            w.writerow([ids[i], *risks, was[i], now[i], *extra])
    return {
        "newly_attack": int(((now[moved] == "attack") & (was[moved] != "attack")).sum()),
        "left_attack": int(((was[moved] == "attack") & (now[moved] != "attack")).sum()),
        "verdicts_moved": int((was[moved] != now[moved]).sum()),
    }


def _risk(value: float, lines: tuple[float, float]) -> str:
    """A risk with 4 decimals, never rounded up across a verdict line: one the review cap held
    just below the attack line reads 0.8999, not 0.9000."""
    text = f"{value:.4f}"
    if any(value < line <= float(text) for line in lines):
        exact = Decimal(float(value))  # the float's exact value, rounded down
        return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR))
    return text
