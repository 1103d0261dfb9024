"""STIX 2.1 bundles of shared indicators, written and read with the OASIS ``stix2`` library.

Object and property names follow STIX 2.1 (OASIS Standard, 10 June 2021,
https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html): identity (§4.9:
``identity_class``), campaign (§4.2), indicator (§4.7: ``pattern``, ``pattern_type``,
``valid_from``, ``indicator_types``), relationship (§5.1: indicator ``indicates`` campaign,
``related-to`` an observable), extension-definition (§7.3: ``extension_types``, ``schema``,
``version``; a property extension is ``extensions: {<id>: {"extension_type":
"property-extension", …}}``), TLP marking definitions (§7.2.1.4, ``object_marking_refs``), and
the patterning language (§9: ``[ipv4-addr:value = '…']``, ``ISSUBSET``, ``LIKE``; the HTTP
request extension's ``request_header`` of network-traffic, §6.12.2). ``pattern_type`` is an open
vocabulary (§10.14), so HMAC-ed values and MinHash band keys travel under pattern types of our
own, described by the extension definition.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import stix2
from stix2.exceptions import STIXError
from stix2patterns.v21.pattern import Pattern

from ..errors import InvalidInputError, InvalidParameterError
from .indicators import Campaign, SharedIndicator
from .keys import SCHEME, SharingKey

# Fixed ids: a partner's importer recognises our extension and pattern types across bundles.
EXTENSION_ID = "extension-definition--3f1c2a8e-5d4b-4e7a-9c61-d1e7b0a4c2f5"
NAMESPACE = uuid.UUID("6b1f0d2e-8a4c-4f3e-b7d9-2c5e1a9f8b30")  # uuid5 ids of our objects
HMAC_PATTERN_TYPE = "distillguard-hmac"
MINHASH_PATTERN_TYPE = "distillguard-minhash-lsh"
# signals.sketch.lsh_bands defaults: a partner must sketch with the same ones to match.
MINHASH_PARAMS = {"num_perm": 64, "bands": 16, "rows": 4, "shingle_size": 3,
                  "window_tokens": 24, "edge_tokens": 8}
TLP = {"white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN, "amber": stix2.TLP_AMBER,
       "red": stix2.TLP_RED}
UA_PATH = "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"
KIND_LABELS = {
    "ip": "IP address", "prefix24_ua": "IP /24 range with user agent",
    "asn_ua": "network (ASN) with user agent", "payment": "payment fingerprint (HMAC)",
    "email_domain": "e-mail domain", "template": "prompt template (MinHash LSH bands)",
}


def _quote(value: str) -> str:
    """A STIX pattern string literal (§9.2: backslash and single quote are escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(literal: str) -> str:
    body = literal[1:-1] if literal[:1] == "'" and literal[-1:] == "'" else literal
    return body.replace("\\'", "'").replace("\\\\", "\\")


def _ip_type(value: str) -> str:
    return "ipv6-addr" if ipaddress.ip_address(value).version == 6 else "ipv4-addr"


def pattern_of(ind: SharedIndicator) -> tuple[str, str]:
    """(pattern, pattern_type) of one indicator."""
    if ind.kind == "ip":
        return f"[{_ip_type(ind.value)}:value = {_quote(ind.value)}]", "stix"
    if ind.kind in ("prefix24_ua", "asn_ua"):
        net, _, ua = ind.value.partition("|")
        # The source address of the request; its ASN via belongs_to_refs (§6.4).
        path = "src_ref.value ISSUBSET" if ind.kind == "prefix24_ua" else "src_ref.belongs_to_refs[*].name ="
        return f"[network-traffic:{path} {_quote(net)} AND {UA_PATH} = {_quote(ua)}]", "stix"
    if ind.kind == "email_domain":
        return f"[email-addr:value LIKE {_quote('%@' + ind.value)}]", "stix"
    if ind.kind == "payment":
        return f"{ind.kind}:{ind.value}", HMAC_PATTERN_TYPE
    if ind.kind == "template":
        return ind.value, MINHASH_PATTERN_TYPE
    raise InvalidParameterError(f"no STIX pattern for indicator kind {ind.kind!r}")


def _sid(kind: str, *parts: str) -> str:
    """A deterministic id: the same finding exported twice keeps its id (§2.9 allows uuid5)."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


@dataclass
class ExportOptions:
    producer: str = "distillguard"
    tlp: str = "amber"
    valid_days: int = 90


def _extension(producer: stix2.Identity, marking: Any) -> stix2.ExtensionDefinition:
    return stix2.ExtensionDefinition(
        id=EXTENSION_ID,
        created="2026-12-01T00:00:00Z",
        modified="2026-12-01T00:00:00Z",
        created_by_ref=producer.id,
        name="distillguard distillation-attack indicators",
        description=(
            "Indicator properties: kind (ip, prefix24_ua, asn_ua, payment, email_domain, "
            "template), n_accounts; for pattern_type distillguard-hmac: hmac_scheme, hmac_key_id "
            "(HMAC-SHA256 of 'kind:value' with the sharing group's key); for "
            "distillguard-minhash-lsh: minhash (num_perm, bands, rows, shingle_size, "
            "window_tokens, edge_tokens), the pattern being hex LSH band keys. Campaign "
            "properties: n_accounts, risk, verdict, capabilities, member_hmacs."
        ),
        schema="https://github.com/distillguard/distillguard/blob/main/docs/SHARING.md",
        version="1.0",
        extension_types=["property-extension"],
        object_marking_refs=[marking],
    )


def build_bundle(
    campaigns: list[Campaign],
    indicators: list[SharedIndicator],
    key: SharingKey,
    options: ExportOptions | None = None,
) -> stix2.Bundle:
    """The STIX bundle: producer identity, extension, one campaign per cluster, indicators,
    observables and relationships, every object marked with the chosen TLP."""
    opt = options or ExportOptions()
    if opt.tlp not in TLP:
        raise InvalidParameterError(f"--tlp must be one of {sorted(TLP)}; got {opt.tlp!r}")
    marking = TLP[opt.tlp]
    now = datetime.now(timezone.utc)
    until = datetime.fromtimestamp(now.timestamp() + opt.valid_days * 86400, timezone.utc)
    producer = stix2.Identity(id=_sid("identity", opt.producer), name=opt.producer,
                              identity_class="organization", object_marking_refs=[marking])
    ext = _extension(producer, marking)
    common = {"created_by_ref": producer.id, "object_marking_refs": [marking]}
    objects: list[Any] = [marking, producer, ext]
    camp_ids = {}
    for c in campaigns:
        cid = _sid("campaign", opt.producer, c.cluster_id, *c.member_digests[:5])
        camp_ids[c.cluster_id] = cid
        objects.append(stix2.Campaign(
            id=cid, name=f"{opt.producer} cluster {c.cluster_id}",
            description=f"Coordinated LLM distillation cluster: {c.n_accounts} accounts, "
                        f"verdict {c.verdict}, capabilities {c.capabilities or 'unknown'}",
            first_seen=now, objective="harvest model outputs as training data", **common,
            extensions={EXTENSION_ID: {
                "extension_type": "property-extension", "n_accounts": c.n_accounts,
                "risk": round(c.risk, 4), "verdict": c.verdict, "capabilities": c.capabilities,
                "member_hmacs": list(c.member_digests)}},
        ))
    for ind in indicators:
        if ind.campaign in camp_ids:
            objects += _indicator_objects(ind, camp_ids[ind.campaign], key, now, until, common)
    return stix2.Bundle(objects=objects, allow_custom=False)


def _indicator_objects(
    ind: SharedIndicator, campaign_id: str, key: SharingKey, now: datetime, until: datetime,
    common: dict,
) -> list[Any]:
    """An indicator, its ``indicates`` relationship and, for plain values, its observable."""
    pattern, ptype = pattern_of(ind)
    props: dict[str, Any] = {"extension_type": "property-extension", "kind": ind.kind,
                             "n_accounts": ind.n_accounts}
    if ind.hashed:
        props |= {"hmac_scheme": SCHEME, "hmac_key_id": key.key_id}
    if ind.kind == "template":
        props["minhash"] = dict(MINHASH_PARAMS)
    desc = f"{KIND_LABELS[ind.kind]} shared by {ind.n_accounts} accounts of one cluster"
    if ind.example_prompt:
        desc += f". Example prompt: {ind.example_prompt[:2000]}"
    obj = stix2.Indicator(
        id=_sid("indicator", campaign_id, ind.kind, ind.value), name=KIND_LABELS[ind.kind],
        description=desc, indicator_types=["malicious-activity"], pattern=pattern,
        pattern_type=ptype, valid_from=now, valid_until=until,
        confidence=min(100, 50 + 10 * ind.n_accounts), extensions={EXTENSION_ID: props}, **common,
    )
    out: list[Any] = [obj, stix2.Relationship(
        id=_sid("relationship", obj.id, "indicates", campaign_id), relationship_type="indicates",
        source_ref=obj.id, target_ref=campaign_id, **common)]
    sco = _observable(ind)
    if sco is not None:
        out += [sco, stix2.Relationship(
            id=_sid("relationship", obj.id, "related-to", sco.id), relationship_type="related-to",
            source_ref=obj.id, target_ref=sco.id, **common)]
    return out


def _observable(ind: SharedIndicator) -> Any:
    """The cyber observable behind a plain indicator (§6), when STIX has one."""
    if ind.kind == "ip":
        cls = stix2.IPv6Address if _ip_type(ind.value) == "ipv6-addr" else stix2.IPv4Address
        return cls(value=ind.value)
    if ind.kind == "email_domain":
        return stix2.DomainName(value=ind.value)
    return None


def write_bundle(bundle: stix2.Bundle, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(bundle.serialize(pretty=True))


# ---- import ---------------------------------------------------------------------------------


@dataclass
class ImportedIndicator:
    indicator_id: str
    kind: str
    value: str
    campaign_ref: str
    producer: str
    confidence: int
    hashed: bool
    key_id: str | None


@dataclass
class ParsedBundle:
    bundle_id: str
    indicators: list[ImportedIndicator]
    skipped: Counter = field(default_factory=Counter)  # reason → count
    key_ids: Counter = field(default_factory=Counter)  # HMAC key ids of hashed indicators


def load_bundle(path: Path) -> stix2.Bundle:
    """Parse and validate a bundle; any defect is one clear error (nothing gets imported)."""
    if not path.is_file():
        raise InvalidInputError(f"bundle not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not a JSON STIX bundle: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "bundle":
        raise InvalidInputError(f"{path} is not a STIX bundle (top-level type must be 'bundle')")
    try:
        return stix2.parse(data, allow_custom=True)
    except (STIXError, KeyError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path} is a malformed STIX 2.1 bundle: {exc}") from exc


def parse_bundle(bundle: stix2.Bundle) -> ParsedBundle:
    """The indicators we can match, and what was skipped (counted by reason)."""
    objs = list(getattr(bundle, "objects", []) or [])
    names = {o["id"]: o.get("name", "") for o in objs if o["type"] == "identity"}
    indicates = {o["source_ref"]: o["target_ref"] for o in objs
                 if o["type"] == "relationship" and o["relationship_type"] == "indicates"}
    out = ParsedBundle(bundle_id=bundle["id"], indicators=[])
    for o in objs:
        if o["type"] != "indicator":
            continue
        kv = classify(o)
        if isinstance(kv, str):
            out.skipped[kv] += 1
            continue
        kind, value, hashed, key_id = kv
        if hashed:
            out.key_ids[key_id or "none"] += 1
        out.indicators.append(ImportedIndicator(
            o["id"], kind, value, indicates.get(o["id"], o["id"]),
            names.get(o.get("created_by_ref", ""), "unknown"),
            int(o.get("confidence", 50)), hashed, key_id))
    return out


def _ext(obj: Any) -> dict:
    ext = (obj.get("extensions") or {}).get(EXTENSION_ID)
    return dict(ext) if ext else {}


def classify(obj: Any) -> tuple[str, str, bool, str | None] | str:
    """(kind, value, hashed, key_id) of an indicator we understand, else the skip reason."""
    ptype, pattern, ext = obj.get("pattern_type"), obj.get("pattern", ""), _ext(obj)
    if ptype == HMAC_PATTERN_TYPE:
        kind, _, digest = pattern.partition(":")
        if kind not in ("payment",) or len(digest) != 64 or ext.get("hmac_scheme") != SCHEME:
            return "unknown_hmac_indicator"
        return kind, digest.lower(), True, ext.get("hmac_key_id")
    if ptype == MINHASH_PATTERN_TYPE:
        if ext.get("minhash") != MINHASH_PARAMS:
            return "minhash_parameters_differ"
        return "template", pattern, False, None
    if ptype != "stix":
        return f"unknown_pattern_type:{ptype}"
    return _classify_stix(pattern)


def _classify_stix(pattern: str) -> tuple[str, str, bool, None] | str:
    try:
        comps = Pattern(pattern).inspect().comparisons
    except Exception:  # the pattern library raises its own parse errors
        return "unparseable_pattern"
    if len(comps) != 1:
        return "unknown_indicator_type"
    (otype, items), = comps.items()
    got = {(".".join(str(p) for p in path if isinstance(p, str)), op): _unquote(v)
           for path, op, v in items}
    if otype in ("ipv4-addr", "ipv6-addr") and set(got) == {("value", "=")}:
        return "ip", got[("value", "=")], False, None
    if otype == "email-addr" and set(got) == {("value", "LIKE")}:
        like = got[("value", "LIKE")]
        if like.startswith("%@") and "%" not in like[2:]:
            return "email_domain", like[2:].lower(), False, None
    ua = got.get(("extensions.http-request-ext.request_header.User-Agent", "="))
    if otype == "network-traffic" and ua is not None and len(got) == 2:
        if ("src_ref.value", "ISSUBSET") in got:
            return "prefix24_ua", f"{got[('src_ref.value', 'ISSUBSET')]}|{ua}", False, None
        if ("src_ref.belongs_to_refs.name", "=") in got:
            return "asn_ua", f"{got[('src_ref.belongs_to_refs.name', '=')]}|{ua}", False, None
    return "unknown_indicator_type"


def bundle_summary(bundle: stix2.Bundle) -> dict[str, int]:
    """Objects per type (what the export printed)."""
    return dict(Counter(o["type"] for o in bundle.objects))

