"""``distillguard bench``, ``bench-suite``, ``bench-transfer`` and ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..scoring.recipe import TRAIN_RECIPE
from .embed import EMBEDDERS


def register(app: typer.Typer) -> None:
    """Add ``bench``, ``bench-suite``, ``bench-transfer`` and ``train`` to ``distillguard``."""
    app.command("bench")(bench)
    app.command("bench-suite")(bench_suite)
    app.command("bench-transfer")(bench_transfer)
    app.command("train")(train)


def _embedder_option() -> Any:
    """``--embedder``, the same for ``bench`` and ``bench-suite`` (a fresh option each)."""
    return typer.Option(
        "hashing", "--embedder", help=f"text embedder of the peers: {', '.join(EMBEDDERS)}"
    )


def _comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` as ``["a", "b", "c"]``."""
    return [x.strip() for x in text.split(",") if x.strip()]


def _peers(peer: list[str] | None, no_peers: bool) -> list[str]:
    """The peer detectors of a transfer run: none, the named ones, or all."""
    from .peers import PEERS

    return [] if no_peers else list(peer) if peer else list(PEERS)


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
    embedder: str = _embedder_option(),
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


def bench_suite(
    out: Path = typer.Option(Path("bench-results"), "--out", help="results folder"),
    presets: str = typer.Option("small,medium", "--presets", help="comma-separated presets"),
    seeds: str = typer.Option("1", "--seeds", help="comma-separated seeds"),
    skip_large: bool = typer.Option(
        False, "--skip-large", help="skip the large-preset scaling run"
    ),
    embedder: str = _embedder_option(),
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
        presets=_comma_list(presets),
        seeds=_comma_list(seeds),
        skip_large=skip_large,
        embedder=embedder,
        detectors=detector,
        first_days=first_days or None,
        also_minilm=minilm,
    )
    typer.echo(f"wrote {path}")


def bench_transfer(
    size: str = typer.Option("small", "--size", help="world size: tiny, small, medium, large"),
    train_size: str | None = typer.Option(
        None, "--train-size", help="size of the train worlds (default: --size)"
    ),
    train_worlds: str = typer.Option("1-8", "--train-worlds", help="seeds the model learns on"),
    test_worlds: str = typer.Option("101-104", "--test-worlds", help="seeds it is measured on"),
    holdout_kind: str | None = typer.Option(
        None, "--holdout-kind", help="remove this campaign kind from every train world"
    ),
    out: Path = typer.Option(Path("bench-results/transfer"), "--out", help="results folder"),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="where worlds are simulated and reused (default OUT/worlds)"
    ),
    peer: list[str] | None = typer.Option(
        None, "--peer", help="peer detectors to run on the test worlds (default: all)"
    ),
    first_days: float | None = typer.Option(
        None, "--first-days", help="also score the peers on the first N days"
    ),
    no_peers: bool = typer.Option(False, "--no-peers", help="run no peer detector"),
    label_budgets: str = typer.Option(
        "10,50,200", "--label-budgets", help="operator labels per test world to adapt with"
    ),
) -> None:
    """Train on random worlds, measure on unseen ones, beside the peers."""
    from .transfer import TransferConfig, parse_worlds, run_transfer

    cfg = TransferConfig(
        size=size,
        train_size=train_size,
        train_worlds=parse_worlds(train_worlds, "--train-worlds"),
        test_worlds=parse_worlds(test_worlds, "--test-worlds"),
        holdout_kind=holdout_kind,
        out=out,
        data_root=data_root,
        peers=_peers(peer, no_peers),
        first_days=first_days,
        label_budgets=tuple(parse_worlds(label_budgets, "--label-budgets"))
        if label_budgets
        else (),
    )
    run_transfer(cfg)
    typer.echo((out / "transfer.md").read_text())
    typer.echo(f"wrote {out / 'transfer.json'}, {out / 'transfer.md'}, {out / 'transfer.html'}")


def train(
    size: str = typer.Option(
        TRAIN_RECIPE["sizes"],
        "--size",
        help="world sizes, comma-separated: tiny, small, medium, large",
    ),
    worlds: str = typer.Option(
        TRAIN_RECIPE["worlds"], "--worlds", help="random-world seeds to train on"
    ),
    out: Path = typer.Option(
        None, "--out", help="model manifest to write (default: the shipped builtin model)"
    ),
    data_root: Path = typer.Option(
        Path("bench-results/train-worlds"), "--data-root", help="where worlds are kept"
    ),
    balance_kinds: bool = typer.Option(
        False,
        "--balance-kinds/--no-balance-kinds",
        help="weigh training accounts so every campaign kind counts the same in each world",
    ),
) -> None:
    """Build the learned risk model from random worlds (reproducible: same seeds, same model)."""
    from ..scoring.model import BUILTIN
    from .transfer import parse_worlds, train_risk_model

    seeds = parse_worlds(worlds, "--worlds")
    path = train_risk_model(_comma_list(size), seeds, data_root, out or BUILTIN, balance_kinds)
    typer.echo(f"wrote {path}")
