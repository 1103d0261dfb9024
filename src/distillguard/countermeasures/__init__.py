"""Countermeasures on degraded responses: a keyed text watermark and canary facts."""

from .canary import CanaryIssuer, check_canaries
from .watermark import Watermark

__all__ = ["CanaryIssuer", "Watermark", "check_canaries"]
