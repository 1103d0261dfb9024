"""``distillguard bench-redteam``: naive, rotating, adaptive and patient attackers against the online path."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``bench-redteam`` to the ``distillguard`` command."""

    @app.command("bench-redteam")
    def bench_redteam(
        size: str = typer.Option("tiny", "--size", help="random world size: tiny, small, medium"),
        seed: int = typer.Option(101, "--seed", help="random world seed (the benign background)"),
        strategy: list[str] | None = typer.Option(
            None, "--strategy", "-s", help="naive, rotating, adaptive, patient, patient-solo, lone (repeat; default: the first four)"
        ),
        answers: int = typer.Option(3000, "--answers", help="answers each attacker wants"),
        max_accounts: int = typer.Option(
            2000, "--max-accounts", help="accounts an attacker can open before it gives up"
        ),
        policy: Path | None = typer.Option(None, "--policy", help="policy YAML (default policy)"),
        state: str = typer.Option("memory", "--state", help="memory or a redis:// URL"),
        url: str | None = typer.Option(
            None,
            "--url",
            help="drive a running `distillguard serve` over HTTP instead (its state carries "
            "over: one strategy per fresh service; token from $DISTILLGUARD_TOKEN)",
        ),
        data_root: Path | None = typer.Option(
            None, "--data-root", help="where worlds are simulated and reused (default OUT/worlds)"
        ),
        out: Path = typer.Option(Path("bench-results/redteam"), "--out", help="results folder"),
        baseline: bool = typer.Option(
            True,
            "--baseline/--no-baseline",
            help="also run today's per-account path (linkage off, immediate visible actions)",
        ),
        signup: bool = typer.Option(
            True,
            "--signup/--no-signup",
            help="sign every account up through the sign-up path (POST /v1/signup) first",
        ),
        batch_every_hours: float | None = typer.Option(
            None,
            "--batch-every-hours",
            help="also run `detect` into the service's store every N simulated hours and reload "
            "its verdict cache, as an operator's nightly job does (off by default)",
        ),
        challenges: str = typer.Option(
            "abandon",
            "--challenges",
            help="what an attacker does on a challenge: abandon the account (as on a block) or "
            "pay (pass it and go on; the report prices each pass)",
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    ) -> None:
        """Attackers that watch the actions they get, with benign traffic replayed around them."""
        from .redteam import render_markdown, run_redteam

        report = run_redteam(
            size=size,
            seed=seed,
            strategies=tuple(strategy or ("naive", "rotating", "adaptive", "patient")),
            answers=answers,
            max_accounts=max_accounts,
            policy=policy,
            state=state,
            url=url,
            data_root=data_root if data_root is not None else out / "worlds",
            out=out,
            progress=not no_progress,
            baseline=baseline,
            signup=signup,
            batch_every_hours=batch_every_hours,
            challenges=challenges,
        )
        typer.echo(render_markdown(report))
        typer.echo(f"wrote {out / 'redteam.json'} and {out / 'redteam.md'}")
