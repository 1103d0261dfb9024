"""``distillguard canary check``, ``distillguard watermark detect`` and ``watermark-bench``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from ..errors import InvalidInputError, InvalidParameterError

ENV_KEY = "DISTILLGUARD_WATERMARK_KEY"
ENV_KEY_FILE = "DISTILLGUARD_WATERMARK_KEY_FILE"

canary_app = typer.Typer(help="Canary facts planted in degraded responses.", no_args_is_help=True)
watermark_app = typer.Typer(help="The keyed text watermark of degraded responses.",
                            no_args_is_help=True)


def load_key(key_file: Path | None = None) -> bytes:
    """The countermeasure key: --key-file, $DISTILLGUARD_WATERMARK_KEY_FILE, then the variable."""
    path = key_file or (Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else None)
    if path is not None:
        if not path.is_file():
            raise InvalidParameterError(f"key file not found: {path}")
        key = path.read_bytes().strip()
    else:
        key = os.environ.get(ENV_KEY, "").encode()
    if len(key) < 16:
        raise InvalidParameterError(
            f"no usable key (16 bytes or more): pass --key-file or set {ENV_KEY_FILE} or {ENV_KEY}")
    return key


def read_outputs(path: Path) -> list[str]:
    """A suspect model's outputs: JSON Lines (``text``, ``output`` or ``response``) or text
    files (one output per file; a folder is read whole)."""
    if not path.exists():
        raise InvalidInputError(f"outputs not found: {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out: list[str] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{f} is not UTF-8 text: {exc}") from exc
        if f.suffix == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{f}:{n} is not JSON: {exc}") from exc
                out.append(str(row.get("text") or row.get("output") or row.get("response") or "")
                           if isinstance(row, dict) else str(row))
        else:
            out.append(text)
    return out


@canary_app.command("check")
def canary_check(
    outputs: Path = typer.Argument(..., help="a suspect model's outputs (.jsonl, text files or a folder)"),
    data: Path = typer.Option(Path("distillguard-data"), "--data", help="the data folder holding canaries.jsonl"),
) -> None:
    """Report which issued canaries the outputs reproduce, with the probability by chance."""
    from .canary import check_canaries

    registry = data / "canaries.jsonl"
    if not registry.is_file():
        raise InvalidInputError(f"no canaries issued: {registry} not found")
    res = check_canaries(read_outputs(outputs), registry)
    chance = (f"{res['p_chance']:.3g}" if res["p_chance"] > 1e-300
              else f"1e{res['log10_p_chance']:.0f}")
    typer.echo(f"{len(res['reproduced'])} of {res['issued']} issued canaries reproduced in "
               f"{res['outputs']} outputs (chance probability <= {chance})")
    for r in res["reproduced"]:
        typer.echo(f"  DG-{r['code']}  issued to {r['account_id']}  (output #{r['output']})")


@watermark_app.command("detect")
def watermark_detect(
    outputs: Path = typer.Argument(..., help="text to test (.jsonl, text files or a folder), as one body"),
    key_file: Path | None = typer.Option(None, "--key-file", help=f"default: ${ENV_KEY_FILE}, then ${ENV_KEY}"),
) -> None:
    """Test a body of text for the watermark: sites, agreements and the binomial p-value."""
    from .watermark import Watermark

    det = Watermark(load_key(key_file)).detect("\n".join(read_outputs(outputs)))
    typer.echo(f"{det.agree} of {det.sites} sites agree with the key: p = {det.p_value:.3g}"
               + ("" if det.sites else " (no sites: nothing to test)"))


def watermark_bench(
    out: Path = typer.Option(..., "--out", help="results JSON"),
    corpora: Path = typer.Option(Path("../shared/corpora"), "--corpora", help="the corpora folder"),
) -> None:
    """Measure the watermark's power and false positives on real text."""
    from .bench import measure

    if not (corpora / "benign").is_dir():
        raise InvalidInputError(f"{corpora}/benign not found (the real corpora are needed)")
    out.parent.mkdir(parents=True, exist_ok=True)
    res = measure(corpora, b"distillguard-watermark-bench-k1", workdir=out.parent)
    out.write_text(json.dumps(res, indent=2))
    typer.echo(json.dumps(res, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``canary``, ``watermark`` and ``watermark-bench`` to ``distillguard``."""
    app.add_typer(canary_app, name="canary")
    app.add_typer(watermark_app, name="watermark")
    app.command("watermark-bench")(watermark_bench)
