"""Parsed views of the session's tiny simulated data set (built once by ``tiny_data``), and a
small, independent check of request records against the data contract."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import ipaddress
import json
from pathlib import Path

import pytest

from distillguard.contract import (
    ACCESS_ROUTE_PREFIXES,
    OPTIONAL_REQUEST_FIELDS,
    REQUIRED_REQUEST_FIELDS,
)


def read_log(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def tiny(tiny_data: Path) -> dict:
    """Records, accounts, labels and request labels of the tiny preset (seed 7)."""
    records = read_log(tiny_data / "requests.jsonl.gz")
    labels = {r["account_id"]: r for r in read_csv(tiny_data / "labels.csv")}
    req_labels = {r["request_id"]: r for r in read_csv(tiny_data / "request_labels.csv")}
    for r in records:
        lab = labels.get(r["account_id"], {})
        r["_persona"] = lab.get("persona")
        r["_attack"] = (
            req_labels[r["request_id"]]["is_attack"] == "1"
            if r["request_id"] in req_labels
            else None
        )
        r["_campaign"] = req_labels.get(r["request_id"], {}).get("campaign_id")
    return {
        "dir": tiny_data,
        "records": records,
        "accounts": read_csv(tiny_data / "accounts.csv"),
        "labels": labels,
        "label_rows": read_csv(tiny_data / "labels.csv"),
        "request_label_rows": read_csv(tiny_data / "request_labels.csv"),
        "summary": json.loads((tiny_data / "sim_summary.json").read_text()),
    }


def _type_ok(value: object, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list<string>":
        return isinstance(value, list) and all(isinstance(x, str) for x in value)
    if kind == "string|integer":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    raise AssertionError(kind)


def problems(rec: dict) -> list[str]:
    """Every way ``rec`` breaks the contract (empty list: valid)."""
    out = []
    for f in REQUIRED_REQUEST_FIELDS:
        if f not in rec or rec[f] in (None, ""):
            out.append(f"missing {f}")
    for f in ("request_id", "account_id", "model"):
        if f in rec and not isinstance(rec[f], str):
            out.append(f"{f} not a string")
    ts = rec.get("ts")
    if isinstance(ts, str):
        try:
            t = dt.datetime.fromisoformat(ts)
            if t.tzinfo is None:
                out.append("ts without offset")
        except ValueError:
            out.append(f"ts unparsable: {ts!r}")
    elif not (isinstance(ts, int) and not isinstance(ts, bool)):
        out.append("ts neither RFC 3339 nor epoch ms")
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or not msgs:
        out.append("messages not a non-empty list")
    else:
        for m in msgs:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                out.append("message without role")
            elif not isinstance(m.get("content"), (str, list)):
                out.append("message content not string/list")
    for f, kind in OPTIONAL_REQUEST_FIELDS.items():
        if f in rec and rec[f] is not None and not _type_ok(rec[f], kind):
            out.append(f"{f} has wrong type {type(rec[f]).__name__}")
    if "access_route" in rec and not (
        rec["access_route"] == "direct" or rec["access_route"].startswith(ACCESS_ROUTE_PREFIXES[1:])
    ):
        out.append(f"bad access_route {rec['access_route']!r}")
    if "country" in rec and not (len(rec["country"]) == 2 and rec["country"].isupper()):
        out.append(f"bad country {rec['country']!r}")
    if "ip" in rec:
        try:
            ipaddress.ip_address(rec["ip"])
        except ValueError:
            out.append(f"bad ip {rec['ip']!r}")
    known = set(REQUIRED_REQUEST_FIELDS) | set(OPTIONAL_REQUEST_FIELDS)
    extra = set(rec) - known
    if extra:
        out.append(f"fields outside the contract: {sorted(extra)}")
    return out


@pytest.fixture(scope="session")
def contract_problems():
    """``problems(record) -> list[str]``: every way a record breaks the contract."""
    return problems


@pytest.fixture(scope="session")
def readers() -> tuple:
    """``(read_log, read_csv)`` for tests that simulate their own data sets."""
    return read_log, read_csv
