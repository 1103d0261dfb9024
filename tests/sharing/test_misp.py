"""``distillguard export misp``: a MISP event pymisp reads back, with the same secrets kept."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
from pymisp import MISPEvent

from distillguard.cli import main
from distillguard.sharing.keys import SharingKey

from .conftest import KEY


def test_misp_event(partner_run, key_file, tmp_path, capsys):
    out = tmp_path / "event.json"
    with pytest.raises(SystemExit) as exc:
        main(["export", "misp", str(partner_run["findings"]), "--out", str(out),
              "--key-file", str(key_file), "--tlp", "green"])
    assert exc.value.code in (0, None), capsys.readouterr().err
    event = MISPEvent()
    event.load(json.loads(out.read_text()))
    types = Counter(a.type for a in event.attributes)
    assert types["campaign-name"] >= 1 and types["anonymised"] >= 1 and types["ip-src"] >= 1
    assert [t.name for t in event.tags] == ["tlp:green"]
    with (partner_run["data"] / "accounts.csv").open() as fh:
        cards = {r["payment_fingerprint"] for r in csv.DictReader(fh) if r["payment_fingerprint"]}
    key = SharingKey(KEY.encode())
    anonymised = [a for a in event.attributes if a.type == "anonymised"]
    assert all(a.category == "Financial fraud" for a in anonymised)
    assert {a.value for a in anonymised} <= {key.digest("payment", c) for c in cards}
    assert not any(c in out.read_text() for c in cards)
