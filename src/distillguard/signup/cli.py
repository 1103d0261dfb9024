"""``distillguard signup-bench``: sign-up risk measured on random worlds."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``signup-bench`` to the ``distillguard`` command."""

    @app.command("signup-bench")
    def signup_bench(
        out: Path = typer.Option(..., "--out", help="results JSON"),
        preset: str = typer.Option("tiny", "--preset", help="world size"),
        seeds: str = typer.Option("101-104", "--seeds", help="random worlds, e.g. 101-104"),
        data_root: Path = typer.Option(Path("bench-results/signup-worlds"), "--data-root",
                                       help="where the worlds are simulated (kept, reused)"),
    ) -> None:
        """Share of campaign accounts stopped or stepped up at sign-up vs benign asked to verify."""
        from ..bench.transfer import parse_worlds
        from ..sim import simulate
        from ..sim.world import Priors, draw_scenario
        from .bench import measure_world

        rows = []
        for seed in parse_worlds(seeds, "--seeds"):
            world = data_root / f"{preset}-{seed}"
            if not (world / "labels.csv").is_file():
                simulate(draw_scenario(preset, seed, Priors.load(None)), out=world, seed=seed,
                         progress=False)
            rows.append(measure_world(world))
            r = rows[-1]
            typer.echo(f"{preset} world {seed}: campaign stopped or stepped up "
                       f"{r['campaign_stopped_or_stepped_up']:.1%} of {r['campaign_accounts']}, "
                       f"benign asked to verify {r['benign_asked_to_verify']:.1%} of "
                       f"{r['benign_accounts']}")
        att = sum(r["campaign_accounts"] for r in rows)
        ben = sum(r["benign_accounts"] for r in rows)
        caught = sum(r["campaign_stopped_or_stepped_up"] * r["campaign_accounts"] for r in rows)
        asked = sum(r["benign_asked_to_verify"] * r["benign_accounts"] for r in rows)
        total = {"campaign_stopped_or_stepped_up": caught / max(att, 1),
                 "benign_asked_to_verify": asked / max(ben, 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"worlds": rows, "total": total}, indent=2))
        typer.echo(f"all: campaign {total['campaign_stopped_or_stepped_up']:.1%} "
                   f"(target >= 60%), benign {total['benign_asked_to_verify']:.1%} (target <= 2%)")
