"""The sharing group's HMAC key: sensitive values are matched, never revealed.

Two providers in one sharing group hold the same secret. Each HMACs its payment fingerprints
(and account ids, e-mail addresses) with it, so equal values give equal digests and a partner
learns nothing about values it does not hold itself. The key's id (an HMAC of a fixed label)
travels with the bundle so an importer can tell, before matching anything, that its key differs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidParameterError

ENV_KEY = "DISTILLGUARD_SHARING_KEY"
ENV_KEY_FILE = "DISTILLGUARD_SHARING_KEY_FILE"
SCHEME = "hmac-sha256"
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class SharingKey:
    """A sharing-group secret; ``digest`` HMACs one value, ``key_id`` names the key."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise InvalidParameterError(
                f"the sharing key must be at least {MIN_KEY_BYTES} bytes; got {len(self.secret)}"
            )

    @property
    def key_id(self) -> str:
        """A public name of the key: equal ids mean HMAC-ed values can match."""
        return hmac.new(self.secret, b"distillguard-sharing-key-id", hashlib.sha256).hexdigest()[:16]

    def digest(self, kind: str, value: str) -> str:
        """HMAC-SHA256 of ``kind:value`` (the kind is mixed in so a card never equals an id)."""
        msg = f"{kind}:{value.strip()}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    @classmethod
    def load(cls, key_file: Path | None = None) -> SharingKey:
        """From ``key_file``, else ``$DISTILLGUARD_SHARING_KEY_FILE``, else ``$DISTILLGUARD_SHARING_KEY``."""
        path = key_file or (Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else None)
        if path is not None:
            if not path.is_file():
                raise InvalidParameterError(f"sharing key file not found: {path}")
            return cls(path.read_bytes().strip())
        raw = os.environ.get(ENV_KEY)
        if not raw:
            raise InvalidParameterError(
                f"no sharing key: pass --key-file or set {ENV_KEY_FILE} or {ENV_KEY} "
                "(the secret your sharing group agreed on)"
            )
        return cls(raw.encode())
