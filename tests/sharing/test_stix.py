"""``distillguard export stix`` / ``import stix``: a valid bundle, secrets kept, bad input refused."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import duckdb
import pytest
import stix2

from distillguard.cli import main
from distillguard.sharing.keys import SharingKey

from .conftest import KEY, OTHER_KEY


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.err + captured.out


def _export(partner_run, key_file, out: Path, capsys, *extra: str) -> dict:
    code, msg = _run(["export", "stix", str(partner_run["findings"]), "--out", str(out),
                      "--key-file", str(key_file), *extra], capsys)
    assert code == 0, msg
    return json.loads(out.read_text())


def _indicators(bundle: dict) -> list[dict]:
    return [o for o in bundle["objects"] if o["type"] == "indicator"]


def _kind(obj: dict) -> str:
    (ext,) = obj["extensions"].values()
    return ext["kind"]


def _shared_count(store: Path) -> int:
    con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM information_schema.tables "
                        "WHERE table_name = 'shared_indicators'").fetchall()[0][0]
        return con.execute("SELECT count(*) FROM shared_indicators").fetchall()[0][0] if n else 0
    finally:
        con.close()


def test_export_is_a_valid_marked_stix_bundle(partner_run, key_file, tmp_path, capsys):
    bundle = _export(partner_run, key_file, tmp_path / "b.json", capsys)
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)  # the library validates it
    types = {o["type"] for o in bundle["objects"]}
    assert {"identity", "campaign", "indicator", "relationship", "extension-definition",
            "marking-definition"} <= types
    kinds = {_kind(o) for o in _indicators(bundle)}
    assert {"ip", "payment", "template"} <= kinds
    amber = stix2.TLP_AMBER.id
    for o in parsed.objects:
        if o["type"] not in ("marking-definition", "ipv4-addr", "ipv6-addr", "domain-name"):
            assert amber in o["object_marking_refs"], o["type"]
    rel = [o for o in bundle["objects"] if o["type"] == "relationship"]
    campaigns = {o["id"] for o in bundle["objects"] if o["type"] == "campaign"}
    assert all(any(r["source_ref"] == i["id"] and r["target_ref"] in campaigns
                   and r["relationship_type"] == "indicates" for r in rel)
               for i in _indicators(bundle))


def test_sensitive_values_are_hmac_ed_and_prompts_stay_home(partner_run, key_file, tmp_path,
                                                             capsys):
    bundle = _export(partner_run, key_file, tmp_path / "b.json", capsys)
    text = json.dumps(bundle)
    with (partner_run["data"] / "accounts.csv").open() as fh:
        accounts = list(csv.DictReader(fh))
    assert not any(a["account_id"] in text for a in accounts)
    assert not any(a["payment_fingerprint"] and a["payment_fingerprint"] in text for a in accounts)
    key = SharingKey(KEY.encode())
    digests = {key.digest("payment", a["payment_fingerprint"]) for a in accounts}
    payments = [o for o in _indicators(bundle) if _kind(o) == "payment"]
    assert payments and all(o["pattern"].split(":", 1)[1] in digests for o in payments)
    with gzip.open(partner_run["data"] / "requests.jsonl.gz", "rt") as fh:
        prompts = [json.loads(line)["messages"][-1]["content"] for line, _ in zip(fh, range(2000), strict=False)]
    long_prompts = [p for p in prompts if isinstance(p, str) and len(p) > 40]
    assert not any(p in text for p in long_prompts)
    with_prompts = json.dumps(_export(partner_run, key_file, tmp_path / "p.json", capsys,
                                      "--include-prompts"))
    assert "Example prompt:" in with_prompts and "Example prompt:" not in text


def _stored_tables(store: Path, name: str) -> int:
    con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                           [name]).fetchall()[0][0]
    finally:
        con.close()


def test_import_round_trip_adds_capped_evidence(partner_run, key_file, store_copy, tmp_path,
                                                capsys, monkeypatch):
    from distillguard.engines.embedded import detect

    b = tmp_path / "b.json"
    _export(partner_run, key_file, b, capsys)
    code, msg = _run(["import", "stix", str(b), "--store", str(store_copy),
                      "--key-file", str(key_file)], capsys)
    assert code == 0 and "imported" in msg and "payment" in msg
    assert "warning" not in msg
    # detect keeps no request_keys in the store: the import built its own from the requests.
    assert not _stored_tables(store_copy, "request_keys")
    matched = int(re.search(r"matches in the store now: (\d+) accounts", msg).group(1))
    monkeypatch.setenv("DISTILLGUARD_SHARING_KEY_FILE", str(key_file))
    out = tmp_path / "f"
    summary = detect([partner_run["data"] / "requests.jsonl.gz"], out=out,
                     accounts=partner_run["data"] / "accounts.csv", store=store_copy,
                     progress=False, workers=1)
    # The accounts the import counted are those analyze (its own request_keys) matched.
    assert summary["analyze_counts"]["shared_intel_accounts"] == matched > 0
    assert not _stored_tables(store_copy, "request_keys")
    before = {r["account_id"]: r for r in csv.DictReader((partner_run["findings"] / "accounts.csv").open())}
    after = {r["account_id"]: r for r in csv.DictReader((out / "accounts.csv").open())}
    # Shared intel never makes an attack: the attack set is what local evidence alone gave.
    assert {a for a, r in after.items() if r["verdict"] == "attack"} == \
        {a for a, r in before.items() if r["verdict"] == "attack"}
    lifted = [r for r in after.values() if "shared campaign indicators" in r["reasons"]]
    assert lifted and all(float(r["risk"]) <= 0.75 or r["verdict"] == "attack" for r in lifted)
    con = duckdb.connect(str(store_copy / "store.duckdb"), read_only=True)
    kinds = {k for (k,) in con.execute("SELECT DISTINCT key_kind FROM graph_edges").fetchall()}
    con.close()
    assert "shared_intel" in kinds


def test_malformed_bundle_is_refused_and_nothing_imported(tmp_path, store_copy, key_file, capsys):
    truncated = tmp_path / "t.json"
    truncated.write_text('{"type": "bundle", "id": "bundle--1", "objects": [')
    code, msg = _run(["import", "stix", str(truncated), "--store", str(store_copy)], capsys)
    assert code == 2 and "not a JSON STIX bundle" in msg and "Traceback" not in msg
    assert len(msg.strip().splitlines()) == 1
    broken = tmp_path / "b.json"  # an indicator without its required pattern
    broken.write_text(json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
        _ip_indicator("198.51.100.7"),
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
         "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}]}))
    code, msg = _run(["import", "stix", str(broken), "--store", str(store_copy)], capsys)
    assert code == 2 and "malformed STIX 2.1 bundle" in msg
    assert _shared_count(store_copy) == 0  # the valid indicator beside it was not imported either


def _ip_indicator(ip: str, **over) -> dict:
    obj = {"type": "indicator", "spec_version": "2.1",
           "id": "indicator--c1b2a3d4-0000-4000-8000-00000000000" + str(len(ip) % 10),
           "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
           "pattern": f"[ipv4-addr:value = '{ip}']", "pattern_type": "stix",
           "valid_from": "2026-01-01T00:00:00Z"}
    obj.update(over)
    return obj


def test_unknown_indicator_types_are_skipped_and_counted(tmp_path, store_copy, capsys):
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"type": "bundle", "id": "bundle--0d6c1f2a-9f3e-4b1a-8c7d-2e5f6a7b8c9d", "objects": [
        _ip_indicator("198.51.100.7"),
        _ip_indicator("x", id="indicator--a0000000-0000-4000-8000-000000000001",
                      pattern="[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']"),
        _ip_indicator("y", id="indicator--a0000000-0000-4000-8000-000000000002",
                      pattern="rule x { condition: true }", pattern_type="yara"),
    ]}))
    code, msg = _run(["import", "stix", str(b), "--store", str(store_copy)], capsys)
    assert code == 0, msg
    assert "imported 1 indicators (ip 1)" in msg
    assert "1 unknown_indicator_type" in msg and "1 unknown_pattern_type:yara" in msg
    assert _shared_count(store_copy) == 1


def test_wrong_hmac_key_matches_nothing_and_says_so(partner_run, key_file, store_copy, tmp_path,
                                                    capsys):
    b = tmp_path / "b.json"
    _export(partner_run, key_file, b, capsys)
    other = tmp_path / "other.key"
    other.write_text(OTHER_KEY)
    code, msg = _run(["import", "stix", str(b), "--store", str(store_copy),
                      "--key-file", str(other)], capsys)
    assert code == 0, msg
    assert "none of them can match your values" in msg
    assert SharingKey(KEY.encode()).key_id in msg
    matches = msg.split("matches in the store now:")[1]
    assert "payment" not in matches  # the same cards, but the digests cannot meet


def test_reimport_replaces_itself(partner_run, key_file, store_copy, tmp_path, capsys):
    b = tmp_path / "b.json"
    bundle = _export(partner_run, key_file, b, capsys)
    for _ in range(2):
        code, _ = _run(["import", "stix", str(b), "--store", str(store_copy),
                        "--key-file", str(key_file)], capsys)
        assert code == 0
    assert _shared_count(store_copy) == len(_indicators(bundle))


def test_export_needs_a_key(partner_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISTILLGUARD_SHARING_KEY", raising=False)
    monkeypatch.delenv("DISTILLGUARD_SHARING_KEY_FILE", raising=False)
    code, msg = _run(["export", "stix", str(partner_run["findings"]), "--out",
                      str(tmp_path / "b.json")], capsys)
    assert code == 2 and "no sharing key" in msg
    assert not (tmp_path / "b.json").exists()


def test_a_named_key_file_must_exist(partner_run, key_file, store_copy, tmp_path, capsys):
    b = tmp_path / "b.json"
    _export(partner_run, key_file, b, capsys)
    code, msg = _run(["import", "stix", str(b), "--store", str(store_copy),
                      "--key-file", str(tmp_path / "missing.key")], capsys)
    assert code == 2 and "sharing key file not found" in msg
    assert _shared_count(store_copy) == 0
