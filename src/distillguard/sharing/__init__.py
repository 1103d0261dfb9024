"""Indicator sharing between providers: STIX 2.1 bundles, MISP events, TAXII 2.1.

Export reads a run's findings and store and writes what a partner can match without learning
who our customers are (sensitive values are HMAC-ed with the sharing group's key). Import turns
a partner's indicators into ``shared_intel`` evidence and graph edges of their own kind; shared
intel alone is capped below ``attack`` (``scoring.shared_intel_cap``).
"""

from .indicators import SharedIndicator, collect_indicators
from .keys import SharingKey

__all__ = ["SharedIndicator", "SharingKey", "collect_indicators"]
