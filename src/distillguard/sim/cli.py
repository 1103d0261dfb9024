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
        world: str = typer.Option(
            "preset",
            "--world",
            help="preset: the preset's fixed world; random: a new world drawn for --seed "
            "from the priors file (population, tactics, wordings all redrawn)",
        ),
        priors: Path | None = typer.Option(
            None, "--priors", help="priors YAML for --world random (default: sim/priors.yaml)"
        ),
    ) -> None:
        """Simulate benign, hard-benign and attack traffic into OUT (contract files + labels)."""
        from . import simulate

        if (preset is None) == (scenario is None):
            raise InvalidParameterError(
                "simulate: give exactly one of --preset NAME or --scenario FILE"
            )
        if seed < 0:
            raise InvalidParameterError(f"simulate: --seed must be >= 0; got {seed}")
        if world not in ("preset", "random"):
            raise InvalidParameterError(f"simulate: --world must be preset or random; got {world!r}")
        chosen = preset if preset is not None else scenario
        if world == "random":
            from .world import Priors, draw_scenario

            if preset is None:
                raise InvalidParameterError("simulate: --world random needs --preset (its size)")
            chosen = draw_scenario(preset, seed, Priors.load(priors))
        summary = simulate(
            chosen,
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
