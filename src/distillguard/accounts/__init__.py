"""Per-account fingerprints (dialect-neutral SQL in :mod:`.definitions`) and offline IP
intelligence (:mod:`.ipintel`)."""

from .fingerprint import AccountFingerprinter, account_meta
from .ipintel import IP_KINDS, IpIntel, default_range_files, enrich_ips

__all__ = [
    "IP_KINDS",
    "AccountFingerprinter",
    "IpIntel",
    "account_meta",
    "default_range_files",
    "enrich_ips",
]
