"""What `distillguard train` builds by default (kept apart from ``scoring.model`` so the CLI
reads its defaults without importing the model's libraries).

The risk model's manifest records the recipe it was fitted with (``recipe``), so a test can
check the shipped artifact is the one `train` rebuilds. ``version`` counts shipped recipes:
1 was fitted before the early-slice fix, and no command rebuilds it; 4 trains on generator-3
worlds (honest coordinated groups: company team, eval team, hackathon) with scikit-learn's
automatic early stopping off (it held out a random 10% of the training accounts and never
stopped a fit: docs/experiments/early-stopping.md). ``generator`` is the random-world
generator `train` draws with, whatever the default of ``sim.world`` is."""

from __future__ import annotations

from typing import Any

TRAIN_RECIPE: dict[str, Any] = {
    "version": 4,
    "sizes": "tiny,small",
    "worlds": "1-8",
    "balance_kinds": False,
    "evidence_dropout": False,
    "generator": 3,  # sim.world generator of the train worlds (-g3)
    "early_stopping": False,  # RiskModel(early_stopping=...): every train row trains the trees
}
