"""``distillguard simulate``: write a simulated data set with ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import InvalidParameterError
from .scenario import PRESETS


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the distillguard CLI."""

    @app.command("simulate")
    def simulate_cmd(
        preset: str | None = typer.Option(
            None, "--preset", help=f"preset scenario: {', '.join(PRESETS)}"
        ),
        scenario: Path | None = typer.Option(
            None, "--scenario", help="scenario YAML file (instead of --preset)"
        ),
        seed: int = typer.Option(
            1, "--seed", help="random seed; same seed and corpora give identical files"
        ),
        out: Path = typer.Option(Path("sim-data"), "--out", help="output folder"),
        fmt: str = typer.Option(
            "jsonl", "--format", help="request log format: jsonl (gzipped) or parquet"
        ),
        corpora: Path | None = typer.Option(
            None, "--corpora", help="corpora folder (default: ../shared/corpora if present)"
        ),
        builtin_text: bool = typer.Option(
            False, "--builtin-text", help="use the built-in text generator even if corpora exist"
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    ) -> None:
        """Simulate benign, hard-benign and attack traffic into OUT (contract files + labels)."""
        from . import simulate

        if (preset is None) == (scenario is None):
            raise InvalidParameterError(
                "simulate: give exactly one of --preset NAME or --scenario FILE"
            )
        if seed < 0:
            raise InvalidParameterError(f"simulate: --seed must be >= 0; got {seed}")
        summary = simulate(
            preset if preset is not None else scenario,
            out=out,
            seed=seed,
            corpora=corpora,
            fmt=fmt,
            progress=not no_progress,
            use_corpora=not builtin_text,
        )
        keys = (
            "scenario",
            "seed",
            "requests",
            "attack_requests",
            "accounts",
            "attack_accounts",
            "mixed_accounts",
            "seconds",
            "requests_per_second",
            "bytes",
            "text_source",
        )
        typer.echo(json.dumps({k: summary[k] for k in keys}, indent=2))
        typer.echo(f"wrote {out}/")
