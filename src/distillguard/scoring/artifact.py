"""A fitted model on disk: a JSON manifest (format version, inputs, training worlds: what a
reviewer reads) beside a pickle of the fitted estimators. Shared by the account risk model and
the request model."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError


def save_artifact(manifest: Path, estimators: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``estimators`` (pickled, beside) and ``meta`` (the manifest) as ``manifest``."""
    import sklearn

    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    blob = manifest.with_suffix(".pkl")
    blob.write_bytes(pickle.dumps(estimators))
    meta = {**meta, "sklearn_version": sklearn.__version__, "weights_file": blob.name}
    manifest.write_text(json.dumps(meta, indent=2) + "\n")
    return manifest


def load_artifact(
    manifest: str | Path, what: str, format_version: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(manifest, estimators)`` of a saved ``what`` ("risk model"), or one clear error."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise InvalidInputError(
            f"{what} {manifest} not found (build one with `distillguard train`)"
        )
    try:
        meta = json.loads(manifest.read_text())
        blob = pickle.loads((manifest.parent / meta["weights_file"]).read_bytes())
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        raise InvalidInputError(f"{what} {manifest} is unreadable: {exc}") from None
    if meta.get("format_version") != format_version:
        raise InvalidInputError(
            f"{what} {manifest} has format {meta.get('format_version')}; "
            f"this version reads {format_version} (rebuild it with `distillguard train`)"
        )
    return meta, blob
