"""The ``signup`` policy section: per-route thresholds of the sign-up risk.

``route_thresholds`` maps a sign-up route (contract §2 ``signup_route``) to
``[step_up, manual_review]``: from the first risk a new account must verify more strongly, from
the second a person looks at it first. The routes attackers farm for credits (education,
research, startup) are stricter by default; a route not listed uses ``standard``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PolicyError
from ..policy import Check, param, section


def _thresholds_ok(v: object) -> bool:
    return (
        isinstance(v, dict) and "standard" in v
        and all(isinstance(k, str) and isinstance(t, (list, tuple)) and len(t) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1
                        for x in t)
                for k, t in v.items())
    )


@section("signup")
@dataclass(frozen=True)
class SignupPolicy:
    """Per-route actions of ``POST /v1/signup`` and ``signups.csv``."""

    route_thresholds: dict = param(
        {
            "standard": [0.5, 0.85],
            "enterprise": [0.6, 0.9],
            "education": [0.3, 0.7],
            "research": [0.3, 0.7],
            "startup": [0.3, 0.7],
        },
        Check(_thresholds_ok, "a mapping from routes (with 'standard') to [step_up, review] in [0, 1]"),
        "per sign-up route: risk from which to step up verification, and to send to manual review",
    )

    def validate(self) -> None:
        for route, (step_up, review) in self.route_thresholds.items():
            if step_up > review:
                raise PolicyError(
                    f"Policy.signup.route_thresholds[{route!r}]: step_up must not exceed "
                    f"manual_review; got {step_up} > {review}"
                )

    def table(self) -> dict[str, tuple[float, float]]:
        return {k: (float(a), float(b)) for k, (a, b) in self.route_thresholds.items()}
