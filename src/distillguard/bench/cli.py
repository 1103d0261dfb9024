"""``distillguard bench`` and ``distillguard bench-suite``."""

from __future__ import annotations

from pathlib import Path

import typer

from .embed import EMBEDDERS


def register(app: typer.Typer) -> None:
    """Add ``bench`` and ``bench-suite`` to the ``distillguard`` command."""

    @app.command("bench")
    def bench(
        data_dir: Path = typer.Argument(..., help="a simulator output folder (with labels.csv)"),
        detector: list[str] | None = typer.Option(
            None,
            "--detector",
            "-d",
            help="detector to run (repeat); default: all peers + distillguard",
        ),
        findings: Path | None = typer.Option(
            None,
            "--findings",
            help="reuse this `distillguard detect` output instead of re-running it",
        ),
        embedder: str = typer.Option(
            "hashing", "--embedder", help=f"text embedder of the peers: {', '.join(EMBEDDERS)}"
        ),
        out: Path | None = typer.Option(
            None, "--out", help="where bench.json and bench.md go (default DATA_DIR/bench)"
        ),
        first_days: float | None = typer.Option(
            None,
            "--first-days",
            help="also run each detector on the first N days only (early detection)",
        ),
        timeout: float | None = typer.Option(None, "--timeout", help="seconds per detector run"),
    ) -> None:
        """Run detectors on a simulated data set and score them against its labels."""
        from .harness import print_table, run_bench

        result = run_bench(
            data_dir, detector, findings, embedder, out, first_days, progress=True, timeout=timeout
        )
        print_table(result)
        out_dir = out if out is not None else data_dir / "bench"
        typer.echo(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.md'}")

    @app.command("bench-suite")
    def bench_suite(
        out: Path = typer.Option(Path("bench-results"), "--out", help="results folder"),
        presets: str = typer.Option("small,medium", "--presets", help="comma-separated presets"),
        seeds: str = typer.Option("1", "--seeds", help="comma-separated seeds"),
        skip_large: bool = typer.Option(
            False, "--skip-large", help="skip the large-preset scaling run"
        ),
        embedder: str = typer.Option(
            "hashing", "--embedder", help=f"text embedder of the peers: {', '.join(EMBEDDERS)}"
        ),
        detector: list[str] | None = typer.Option(
            None, "--detector", "-d", help="restrict the detectors"
        ),
        first_days: float = typer.Option(
            2.0, "--first-days", help="early-detection slice in days (0: off)"
        ),
        minilm: bool = typer.Option(
            True, "--minilm/--no-minilm", help="also run prada and mmd with the MiniLM embedder"
        ),
    ) -> None:
        """Everything `make bench` records: simulate, bench each preset, optional sections."""
        from .suite import run_suite

        path = run_suite(
            out=out,
            presets=[p.strip() for p in presets.split(",") if p.strip()],
            seeds=[s.strip() for s in seeds.split(",") if s.strip()],
            skip_large=skip_large,
            embedder=embedder,
            detectors=detector,
            first_days=first_days or None,
            also_minilm=minilm,
        )
        typer.echo(f"wrote {path}")
