"""Risk, verdicts and reasons from request, account and cluster evidence."""

from .analyze import Findings, analyze
from .scorer import AccountScorer, ClusterScorer

__all__ = ["AccountScorer", "ClusterScorer", "Findings", "analyze"]
