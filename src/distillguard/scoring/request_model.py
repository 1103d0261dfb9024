"""The learned request model: which requests of a suspect account are the harvest ones.

A mixed account (a reseller carrying both a campaign's harvest and genuine customers) is
found at the account level; this model marks the requests inside it. It estimates
P(harvest request | the account is a campaign account, the request's inputs), so a request's
risk is ``account risk × p_harvest``: a benign account's requests stay below its own risk.

Inputs (``definitions.REQUEST_INPUTS``, computed in SQL by either engine) read the request
against its own account or its deployment: the share of the account's other requests sharing
its template, address, user agent, session, parameters or hour; where its harvest signal and
output length rank inside the account; how widely the deployment shares its template and
whether it is a campaign template (a template shared with many accounts is not suspect
by itself: a benign crowd shares its greetings too). A histogram gradient-boosting classifier, monotone in the
inputs whose direction is known, is fitted on the requests of campaign accounts of random
train worlds; Platt calibration is fitted on out-of-world predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InvalidInputError
from .artifact import load_artifact, save_artifact
from .booster import WorldCalibratedBooster
from .model import MODEL_DIR, align

BUILTIN = MODEL_DIR / "request-model.json"
FORMAT_VERSION = 2  # 2: leave-one-out shares; no account volume, mix, country or key
MAX_PER_ACCOUNT = 40  # training requests kept per campaign account
SCORE_ROWS = 65_536  # requests scored per call: a 13 MB input matrix, whatever the log's size

# Every input of REQUEST_INPUTS and its known direction (+1 more harvest-like, -1 less, 0 free).
INPUTS: tuple[tuple[str, int], ...] = (
    ("harvest", 1),
    ("sig_cot", 1),
    ("sig_rubric", 1),
    ("sig_synth", 1),
    ("sig_format", 1),
    ("sig_rewrite", 1),
    ("n_user_turns", -1),
    ("is_reasoning", 0),
    ("template_share", 1),
    ("ip_share", 0),
    ("network_share", 0),
    ("user_agent_share", 0),
    ("params_share", 0),
    ("model_share", 0),
    ("capability_share", 0),
    ("hour_share", 0),
    ("session_share", 0),
    ("no_session", 0),
    ("harvest_rank", 1),
    ("output_rank", 0),
    ("max_tokens_rank", 0),
    ("campaign_template", 1),
    ("attack_template", 1),
    ("rotation", 0),
    ("new_model_pivot", 1),
)
INPUT_NAMES: tuple[str, ...] = tuple(n for n, _ in INPUTS)


class RequestModel(WorldCalibratedBooster):
    """Calibrated P(harvest | campaign account, request inputs).

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization :
        of scikit-learn's ``HistGradientBoostingClassifier``.
    random_state : int.

    Attributes
    ----------
    names_ : input names; booster_ : the fitted classifier; calibrator_ : Platt map from
    raw log-odds, fitted on out-of-world predictions; trained_on_ : world names.
    """

    def __init__(
        self,
        max_iter: int = 120,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    unit = "requests"

    def monotone(self, names: list[str]) -> list[int]:
        direction = dict(INPUTS)
        return [direction.get(n, 0) for n in names]

    def predict_harvest(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(harvest) of each row (a campaign account's request)."""
        return self.calibrated(np.asarray(X, float))

    def score(self, inputs: pa.Table) -> np.ndarray:
        """P(harvest) of each row of a ``request_inputs`` table, ``SCORE_ROWS`` rows at a time.

        Rows are scored independently, so chunks give the same numbers as one call; the
        float matrix and scikit-learn's temporaries stay a chunk's size instead of ~200 bytes
        per candidate request (1.3M of them on ``large``).
        """
        self._check_fitted("booster_")
        out = np.empty(inputs.num_rows)
        for start in range(0, inputs.num_rows, SCORE_ROWS):
            part = inputs.slice(start, SCORE_ROWS)
            out[start : start + part.num_rows] = self.predict_harvest(align(part, self.names_))
        return out

    # ---- artifact ---------------------------------------------------------------------------
    def save(self, manifest: Path, extra: dict | None = None) -> Path:
        """``manifest`` (JSON: version, inputs, training worlds) + the pickled estimators."""
        self._check_fitted("booster_")
        meta = {
            "format_version": FORMAT_VERSION,
            "estimator": "HistGradientBoostingClassifier + Platt scaling (LogisticRegression)",
            "target": "P(harvest request | campaign account); request risk = account risk × it",
            "params": self.get_params(),
            "inputs": self.names_,
            "trained_on": self.trained_on_,
            "n_train_requests": self.n_train_,
            **(extra or {}),
        }
        return save_artifact(
            manifest, {"booster": self.booster_, "calibrator": self.calibrator_}, meta
        )

    @classmethod
    def load(cls, manifest: str | Path) -> RequestModel:
        meta, blob = load_artifact(manifest, "request model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.booster_, model.calibrator_ = blob["booster"], blob["calibrator"]
        model.names_, model.trained_on_ = meta["inputs"], meta["trained_on"]
        model.n_train_ = meta["n_train_requests"]
        model.manifest_ = meta
        return model


def resolve(setting: str) -> RequestModel | None:
    """The policy's ``request_model`` setting as a model (``none``: the hand-set formula)."""
    if setting == "none":
        return None
    path = BUILTIN if setting == "builtin" else Path(setting)
    if setting == "builtin" and not path.is_file():
        return None  # a source tree before `distillguard train` was run: hand-set formula
    return RequestModel.load(path)


# ---- training -------------------------------------------------------------------------------
def training_table(
    worlds: list[Path], findings: list[Path]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(X, y, groups, names)``: the requests of each world's campaign accounts, labelled
    harvest (1) or genuine (0) by ``request_labels.csv``, from ``request_inputs.parquet``;
    at most ``MAX_PER_ACCOUNT`` per account (those with the lowest request ids: arbitrary but
    repeatable), in a fixed order whatever order the parquet holds."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    names = list(INPUT_NAMES)
    Xs, ys, gs = [], [], []
    for world, f in zip(worlds, findings, strict=True):
        path = Path(f) / "request_inputs.parquet"
        if not path.is_file():
            raise InvalidInputError(f"{path} missing: run detect with request inputs kept")
        campaign = pacsv.read_csv(Path(world) / "labels.csv").select(["account_id", "is_attack"])
        campaign = campaign.filter(pa.compute.equal(campaign.column("is_attack"), 1))
        labels = pacsv.read_csv(
            Path(world) / "request_labels.csv",
            convert_options=pacsv.ConvertOptions(column_types={"request_id": pa.string()}),
        ).select(["request_id", "is_attack"])
        t = pq.read_table(path).join(campaign.select(["account_id"]), "account_id")
        t = t.join(labels, "request_id", join_type="inner")
        # A fixed row order: the parquet's order is the engine's (parallel, not repeatable) and
        # joins reorder too; the kept requests and the fit must not depend on either.
        t = t.sort_by([("account_id", "ascending"), ("request_id", "ascending")])
        t = t.filter(pa.array(first_of_each(t.column("account_id"), MAX_PER_ACCOUNT)))
        Xs.append(align(t, names))
        ys.append(np.asarray(t.column("is_attack").to_numpy(), int))
        gs.append(np.full(t.num_rows, Path(world).name, dtype=object))
    return np.vstack(Xs), np.concatenate(ys), np.concatenate(gs), names


def first_of_each(keys: pa.ChunkedArray, cap: int) -> np.ndarray:
    """Mask keeping at most ``cap`` rows of each key (its first ones), so a heavy account
    weighs no more than ``cap`` requests and a world's many pure harvest accounts do not
    drown the mixed accounts' customer requests."""
    codes = np.asarray(keys.combine_chunks().dictionary_encode().indices.to_numpy(), np.int64)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    pos = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    keep = np.zeros(len(codes), dtype=bool)
    keep[order] = pos < cap
    return keep


def fit_request_model(worlds: list[Path], findings: list[Path], out: Path) -> Path:
    """Fit a :class:`RequestModel` on labelled worlds and save it as ``out`` (a manifest)."""
    X, y, groups, names = training_table(worlds, findings)
    model = RequestModel().fit(X, y, groups, names)
    return model.save(out, {"worlds": [Path(w).name for w in worlds]})
