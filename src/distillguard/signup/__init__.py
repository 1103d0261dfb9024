"""Sign-up risk: score a new account at creation, from what is known then."""

from .risk import SignupRisk, SignupScorer, route_action

__all__ = ["SignupRisk", "SignupScorer", "route_action"]
