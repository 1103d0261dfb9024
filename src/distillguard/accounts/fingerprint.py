"""Per-account fingerprints: one row per account seen in ``requests``.

The per-request aggregation is the SQL of :mod:`.definitions`, run by any :class:`Engine`;
the few derived ratios (CV of gaps, burstiness, account age, pivot share) are numpy over the
small per-account Arrow table.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engines.base import Engine
from ..errors import InvalidInputError
from . import definitions as d
from ._base import Estimator, check_range, table_exists
from .units import DEFAULT_UNITS, make_unit

ACCOUNT_META_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("created_ms", pa.int64()),
        ("signup_route", pa.string()),
        ("verification", pa.string()),
        ("email_domain", pa.string()),
        ("payment_fingerprint", pa.string()),
        ("org_id", pa.string()),
    ]
)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _epoch_ms(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Sign-up times as epoch ms, whatever type the account table gave them."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_timestamp(t):
        return pc.cast(pc.cast(col, pa.timestamp("ms", tz="UTC")), pa.int64())
    if pa.types.is_date(t):
        return pc.cast(pc.cast(col, pa.timestamp("ms")), pa.int64())
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        v = np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)
        v = np.where(np.abs(v) < 1e11, v * 1000.0, v)  # seconds → ms
        return pa.array(np.where(np.isnan(v), None, v).tolist(), pa.int64(), from_pandas=True)
    out = []
    for s in col.to_pylist():  # one row per account: small
        if s is None or str(s).strip() == "":
            out.append(None)
            continue
        try:
            dt = datetime.fromisoformat(str(s).strip().replace("Z", "+00:00"))
        except ValueError:
            out.append(None)
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        out.append(int(dt.timestamp() * 1000))
    return pa.array(out, pa.int64())


def account_meta(engine: Engine) -> pa.Table:
    """The contract §2 account table reduced to what fingerprints need (empty when absent)."""
    if not table_exists(engine, "accounts"):
        return ACCOUNT_META_SCHEMA.empty_table()
    t = engine.fetch_arrow("SELECT * FROM accounts")
    if "account_id" not in t.column_names:
        raise InvalidInputError("the accounts table has no account_id column")
    n = t.num_rows

    def col(name: str) -> pa.Array:
        if name not in t.column_names:
            return pa.nulls(n, pa.string())
        c = t.column(name).combine_chunks()
        return c if pa.types.is_string(c.type) else pc.cast(c, pa.string())

    created = _epoch_ms(t.column("created_at")) if "created_at" in t.column_names else None
    return pa.table(
        {
            "account_id": col("account_id"),
            "created_ms": created if created is not None else pa.nulls(n, pa.int64()),
            "signup_route": pc.utf8_lower(col("signup_route")),
            "verification": pc.utf8_lower(col("verification")),
            "email_domain": pc.utf8_lower(col("email_domain")),
            "payment_fingerprint": col("payment_fingerprint"),
            "org_id": col("org_id"),
        },
        schema=ACCOUNT_META_SCHEMA,
    )


def _f(t: pa.Table, name: str, fill: float = 0.0) -> np.ndarray:
    return np.nan_to_num(
        np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=float), nan=fill
    )


class AccountFingerprinter(Estimator):
    """Compute ``account_features`` (one row per account) from ``requests``.

    Parameters
    ----------
    signal_threshold : a request "carries" a text signal when its ``sig_*`` ≥ this.
    pivot_min_delay_days : a model counts as newly released only when first seen at least this
        long after the start of the data.
    pivot_window_hours : the window after release in which a pivot share is measured.
    pivot_min_requests : a new model needs this many requests to count as released.
    units : evidence units (``accounts.units.UNITS``) whose columns are appended.

    Attributes
    ----------
    features_ : pa.Table, one row per account.
    new_model_ : str | None, the newly released model (None when there is none).
    release_ms_ : int | None, its first appearance.
    period_ : (start_ms, end_ms) of the data.
    """

    def __init__(
        self,
        signal_threshold: float = 0.5,
        pivot_min_delay_days: float = 1.0,
        pivot_window_hours: float = 24.0,
        pivot_min_requests: int = 20,
        units: tuple[str, ...] = DEFAULT_UNITS,
    ) -> None:
        self.signal_threshold = signal_threshold
        self.pivot_min_delay_days = pivot_min_delay_days
        self.pivot_window_hours = pivot_window_hours
        self.pivot_min_requests = pivot_min_requests
        self.units = units

    def _validate(self) -> None:
        check_range(self, "signal_threshold", self.signal_threshold, 0.0, 1.0)
        check_range(self, "pivot_min_delay_days", self.pivot_min_delay_days, 0.0, None)
        check_range(self, "pivot_window_hours", self.pivot_window_hours, 0.01, None)
        check_range(self, "pivot_min_requests", self.pivot_min_requests, 1, None)
        for name in self.units:
            make_unit(name)  # an unknown name is an InvalidParameterError here

    def sql(self, has_templates: bool = True) -> dict[str, str]:
        """The per-request aggregation this fingerprinter runs, table name → SQL, in order
        (``explain``; the Spark engine runs the same strings). The model-pivot query depends on
        the data (the newest model) and is rendered in ``fit``."""
        out = {
            "request_keys": d.render(
                d.REQUEST_KEYS,
                thr=float(self.signal_threshold),
                template_expr=d.TEMPLATE_EXPR_WITH_INDEX
                if has_templates
                else d.TEMPLATE_EXPR_NO_INDEX,
                template_join=d.TEMPLATE_JOIN_WITH_INDEX if has_templates else "",
            ),
            "account_base": d.ACCOUNT_BASE,
            "account_gaps": d.ACCOUNT_GAPS,
            "account_hourly": d.ACCOUNT_HOURLY,
            "account_payment": d.ACCOUNT_PAYMENT,
        }
        for table, name, col, k in (
            ("account_hod", "hod", d.HOUR_OF_DAY_EXPR, 24),
            ("account_cap", "cap", "capability", 6),
            ("account_tpl", "tpl", "template", 1000),
            ("account_mt", "mt", "max_tokens", 1000),
        ):
            out[table] = d.render(d.ACCOUNT_ENTROPY, name=name, col=col, k=k)
        return out

    def fit(self, engine: Engine) -> AccountFingerprinter:
        """Run the definitions on ``engine`` and write table ``account_features``."""
        self._validate()
        if not table_exists(engine, "requests"):
            raise InvalidInputError("no requests table: ingest a request log first")
        if not table_exists(engine, "ip_intel"):
            from .ipintel import IP_INTEL_SCHEMA

            engine.register_arrow("ip_intel", IP_INTEL_SCHEMA.empty_table())
        engine.register_arrow("account_meta", account_meta(engine))
        for table, sql in self.sql(has_templates=table_exists(engine, "templates")).items():
            engine.create_table(table, sql)

        period = engine.fetch_arrow(d.PERIOD).to_pylist()[0]
        start, end = period["start_ms"], period["end_ms"]
        self.period_ = (start, end)
        models = engine.fetch_arrow(d.MODEL_FIRST_SEEN).to_pylist()
        min_delay = self.pivot_min_delay_days * DAY_MS
        late = [
            m
            for m in models
            if start is not None
            and m["first_ts"] - start >= min_delay
            and m["n"] >= self.pivot_min_requests
        ]
        late.sort(key=lambda m: (m["first_ts"], str(m["model"])))
        self.new_model_ = late[-1]["model"] if late else None
        self.release_ms_ = late[-1]["first_ts"] if late else None
        window_ms = int(self.pivot_window_hours * HOUR_MS)
        engine.create_table(
            "account_pivot",
            d.render(
                d.ACCOUNT_PIVOT,
                release_ms=int(self.release_ms_ if self.release_ms_ is not None else -1),
                window_ms=window_ms if self.new_model_ is not None else 0,
                model=str(self.new_model_ or "").replace("'", "''"),
            ),
        )
        raw = engine.fetch_arrow(d.ACCOUNT_FEATURES + " ORDER BY b.account_id")
        features = self._derive(raw)
        for name in self.units:  # a handful of units, each a few SQL statements
            features = make_unit(name).fit(engine).join(features)
        self.features_ = features
        engine.register_arrow("account_features", self.features_)
        return self

    def _derive(self, t: pa.Table) -> pa.Table:
        """Ratios that are clearer in numpy than in portable SQL."""
        n = _f(t, "n_requests")
        gap_mean = _f(t, "gap_mean_ms")
        gap_sd = _f(t, "gap_sd_ms")
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(gap_mean > 0, gap_sd / gap_mean, 0.0)
            burst = np.where(gap_mean + gap_sd > 0, (gap_sd - gap_mean) / (gap_sd + gap_mean), 0.0)
            span_h = (_f(t, "last_ts") - _f(t, "first_ts")) / HOUR_MS
            rate = n / np.maximum(_f(t, "active_hours"), 1.0)
            pivot_n = _f(t, "pivot_window_requests")
            pivot_share = np.where(pivot_n > 0, _f(t, "pivot_new_requests") / pivot_n, 0.0)
        first_new = np.asarray(
            t.column("pivot_first_new_ts").to_numpy(zero_copy_only=False), dtype=float
        )
        rel = float(self.release_ms_) if self.release_ms_ is not None else np.nan
        pivot_delay_h = (first_new - rel) / HOUR_MS  # NaN when never used / no new model
        created = np.asarray(t.column("created_ms").to_numpy(zero_copy_only=False), dtype=float)
        age_days = (_f(t, "first_ts") - created) / DAY_MS  # NaN when no account table
        cols = {
            "cv_gaps": cv,
            "burstiness": burst,
            "span_hours": span_h,
            "rate_per_active_hour": rate,
            "templates_per_request": _f(t, "n_templates") / np.maximum(n, 1.0),
            "ips_per_request": _f(t, "n_ips") / np.maximum(n, 1.0),
            "asns_per_request": _f(t, "n_asns") / np.maximum(n, 1.0),
            # 1: every request opens a conversation of its own (single-shot task items);
            # missing when the log carries no session ids.
            "sessions_per_request": np.where(
                _f(t, "n_sessions") > 0, _f(t, "n_sessions") / np.maximum(n, 1.0), np.nan
            ),
            "pivot_share": pivot_share,
            "pivot_delay_hours": pivot_delay_h,
            "account_age_days": age_days,
        }
        out = t
        for name, values in cols.items():
            arr = pa.array(np.where(np.isnan(values), None, values).tolist(), pa.float64())
            out = out.append_column(name, arr)
        return out

    def transform(self, engine: Engine | None = None) -> pa.Table:
        """The fitted per-account feature table."""
        self._check_fitted("features_")
        return self.features_
