"""``distillguard learn``: adapt the risk model to the operator's own labels."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``learn`` to the distillguard CLI."""

    @app.command("learn")
    def learn_cmd(
        store: Path = typer.Option(Path("distillguard-data"), "--store", help="the detect store"),
        labels: list[Path] | None = typer.Option(
            None, "--labels", help="CSV with account_id and label (attack/benign); repeatable"
        ),
        from_console: bool = typer.Option(
            True,
            "--from-console/--no-console",
            help="also use the console's confirm/dismiss decisions",
        ),
        base: str = typer.Option("builtin", "--base", help="model to adapt: builtin or a manifest"),
        out: Path | None = typer.Option(
            None, "--out", help="model manifest to write (default STORE/risk-model.json)"
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="policy file whose review/attack thresholds the changes use"
        ),
    ) -> None:
        """Adapt the risk model to this deployment's labelled accounts (positive-only works)."""
        from ..errors import InvalidInputError
        from ..policy import Policy
        from ..scoring.learn import CHANGES_FILE, console_labels, learn, read_label_csv
        from ..scoring.model import BUILTIN

        given: dict[str, int] = console_labels(store) if from_console else {}
        for path in labels or []:
            given.update(read_label_csv(path))
        if not given:
            raise InvalidInputError(
                "learn: no labels (give --labels FILE or confirm/dismiss cases in the console)"
            )
        scoring = Policy.load(policy).scoring
        thresholds = (scoring.review_threshold, scoring.attack_threshold)
        model = BUILTIN if base == "builtin" else Path(base)
        path, counts = learn(store, given, model, out, thresholds)
        typer.echo(
            f"adapted on {counts['attack']} attack and {counts['benign']} benign accounts "
            f"({counts['unlabelled']} unlabelled; {counts['labels_for_unknown_accounts']} labels "
            "named accounts not in the store)"
        )
        typer.echo(
            f"on unlabelled accounts the adapted model moves {counts['verdicts_moved']} verdicts: "
            f"{counts['newly_attack']} newly at attack, {counts['left_attack']} leave attack, "
            f"{counts['held_at_review']} held at review (labels alone never make an attack); "
            f"review {store / CHANGES_FILE} before using it"
        )
        typer.echo(f"wrote {path}; use it with a policy line  scoring: {{risk_model: {path}}}")
