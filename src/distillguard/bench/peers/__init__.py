"""Peer detectors, each re-implemented from its paper and written into the contract's
``accounts.csv``. Add one by writing a :class:`Peer` subclass and listing it in ``PEERS``."""

from __future__ import annotations

from ...errors import InvalidParameterError
from .base import Peer, accounts_table, write_accounts
from .fraudar import FraudarPeer
from .isolation_forest import IsolationForestPeer
from .mmd import MMDPeer
from .prada import PradaPeer
from .rate_limit import RateLimitPeer

PEERS: dict[str, type[Peer]] = {
    cls.name: cls for cls in (RateLimitPeer, IsolationForestPeer, PradaPeer, MMDPeer, FraudarPeer)
}


def make_peer(name: str, embedder: str = "hashing") -> Peer:
    """A peer by name; text peers get ``embedder``."""
    if name not in PEERS:
        raise InvalidParameterError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    cls = PEERS[name]
    return cls(embedder=embedder) if cls.uses_embedder else cls()


__all__ = [
    "PEERS",
    "FraudarPeer",
    "IsolationForestPeer",
    "MMDPeer",
    "Peer",
    "PradaPeer",
    "RateLimitPeer",
    "accounts_table",
    "make_peer",
    "write_accounts",
]
