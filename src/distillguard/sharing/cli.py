"""``distillguard export stix|misp`` and ``distillguard import stix``: share indicators."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InvalidParameterError
from ..ingest import DEFAULT_STORE
from .keys import SharingKey

export_app = typer.Typer(help="Share a run's findings with partners (STIX 2.1, MISP).",
                         no_args_is_help=True)
import_app = typer.Typer(help="Bring a partner's shared indicators into the store.",
                         no_args_is_help=True)

KEY_HELP = ("the sharing group's HMAC key file (default: $DISTILLGUARD_SHARING_KEY_FILE, "
            "then $DISTILLGUARD_SHARING_KEY)")


def _collect(findings: Path, store: Path | None, key: SharingKey, min_verdict: str,
             prompts: bool) -> tuple:
    from .indicators import collect_indicators

    return collect_indicators(findings, key, store=store, min_verdict=min_verdict,
                              with_prompts=prompts)


@export_app.command("stix")
def export_stix(
    findings: Path = typer.Argument(..., help="a detect --out folder"),
    out: Path = typer.Option(..., "--out", help="where to write the STIX 2.1 bundle (JSON)"),
    store: Path | None = typer.Option(None, "--store", help="the run's store (default: from summary.json)"),
    key_file: Path | None = typer.Option(None, "--key-file", help=KEY_HELP),
    producer: str = typer.Option("distillguard", "--producer", help="our name in the bundle (identity)"),
    tlp: str = typer.Option("amber", "--tlp", help="TLP marking: white, green, amber or red"),
    min_verdict: str = typer.Option("review", "--min-verdict", help="share clusters at or above: review or attack"),
    include_prompts: bool = typer.Option(False, "--include-prompts", help="add one raw example prompt per template (off: never shared)"),
) -> None:
    """Write a STIX 2.1 bundle of the run's flagged clusters and their indicators."""
    from .stix import ExportOptions, build_bundle, bundle_summary, write_bundle

    key = SharingKey.load(key_file)
    campaigns, indicators = _collect(findings, store, key, min_verdict, include_prompts)
    bundle = build_bundle(campaigns, indicators, key, ExportOptions(producer=producer, tlp=tlp))
    write_bundle(bundle, out)
    kinds = bundle_summary(bundle)
    typer.echo(f"wrote {out}: {len(campaigns)} campaigns, {kinds.get('indicator', 0)} indicators "
               f"(TLP:{tlp.upper()}, sharing key {key.key_id})")


@export_app.command("misp")
def export_misp(
    findings: Path = typer.Argument(..., help="a detect --out folder"),
    out: Path = typer.Option(..., "--out", help="where to write the MISP event (JSON)"),
    store: Path | None = typer.Option(None, "--store", help="the run's store (default: from summary.json)"),
    key_file: Path | None = typer.Option(None, "--key-file", help=KEY_HELP),
    tlp: str = typer.Option("amber", "--tlp", help="TLP tag: white, green, amber or red"),
    min_verdict: str = typer.Option("review", "--min-verdict", help="share clusters at or above: review or attack"),
) -> None:
    """Write the run's flagged clusters as one MISP event (pymisp)."""
    from .misp import build_event

    key = SharingKey.load(key_file)
    campaigns, indicators = _collect(findings, store, key, min_verdict, False)
    event = build_event(campaigns, indicators, key, tlp=tlp)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(event.to_json(indent=2))
    typer.echo(f"wrote {out}: MISP event with {len(event.attributes)} attributes (TLP:{tlp.upper()})")


@import_app.command("stix")
def import_stix(
    bundle: Path = typer.Argument(..., help="a partner's STIX 2.1 bundle (JSON)"),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="the store detect will read"),
    key_file: Path | None = typer.Option(None, "--key-file", help=KEY_HELP),
) -> None:
    """Import a partner's indicators; the next detect turns matches into capped evidence."""
    from .intel import import_bundle
    from .stix import load_bundle, parse_bundle

    parsed = parse_bundle(load_bundle(bundle))  # raises before anything is written
    try:
        key = SharingKey.load(key_file)
    except InvalidParameterError:
        if key_file is not None:  # a key file was named: it must be usable
            raise
        key = None  # no key: plain indicators still match, HMAC-ed ones cannot
    for line in import_bundle(parsed, store, key).lines():
        typer.echo(line)


def bench_share(
    out: Path = typer.Option(..., "--out", help="folder for the worlds, runs and results"),
    preset: str = typer.Option("tiny", "--preset", help="world size: tiny or small"),
    pairs: list[str] = typer.Option(["11:12"], "--pair", help="SEED_A:SEED_B (repeatable)"),
    share: float = typer.Option(0.5, "--share", help="share of each B campaign on A's infrastructure"),
    days: str = typer.Option("1,2,3", "--days", help="cutoffs: B's first N days, comma-separated"),
) -> None:
    """Measure the sharing round trip: B's campaigns found alone vs with A's bundle."""
    import json

    from .roundtrip import markdown, run_pair

    try:
        seeds = [tuple(int(x) for x in p.split(":")) for p in pairs]
        cutoffs = [float(d) for d in days.split(",") if d.strip()]
    except ValueError as exc:
        raise InvalidParameterError(f"--pair SEED_A:SEED_B and --days N,N,...: {exc}") from exc
    if any(len(s) != 2 for s in seeds) or not cutoffs:
        raise InvalidParameterError("--pair takes SEED_A:SEED_B and --days at least one number")
    results = [run_pair(preset, a, b, share, cutoffs, out / f"{preset}-{a}-{b}") for a, b in seeds]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (out / "results.md").write_text(table)
    typer.echo(table)


def register(app: typer.Typer) -> None:
    """Add ``export``, ``import``, ``bench-share`` (and ``taxii``) to ``distillguard``."""
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
    app.command("bench-share")(bench_share)
    try:
        from .taxii import taxii_app
    except ImportError:
        return
    app.add_typer(taxii_app, name="taxii")
