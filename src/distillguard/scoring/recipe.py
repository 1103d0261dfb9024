"""What `distillguard train` builds by default (kept apart from ``scoring.model`` so the CLI
reads its defaults without importing the model's libraries).

The risk model's manifest records the recipe it was fitted with (``recipe``), so a test can
check the shipped artifact is the one `train` rebuilds. ``version`` counts shipped recipes:
1 was fitted before the early-slice fix, and no command rebuilds it."""

from __future__ import annotations

from typing import Any

TRAIN_RECIPE: dict[str, Any] = {
    "version": 2,
    "sizes": "tiny,small",
    "worlds": "1-8",
    "balance_kinds": False,
    "evidence_dropout": False,
}
