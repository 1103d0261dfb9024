"""TAXII 2.1 push and pull of shared bundles, with the OASIS ``taxii2-client``.

TAXII 2.1 (OASIS Standard, https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html):
objects go to a collection's ``objects/`` endpoint in an *envelope* (§3.7: ``objects``,
``more``, ``next``), Add Objects (§5.4) answers with a status resource (§4.3.1:
``success_count``, ``failure_count``, ``pending_count``), Get Objects (§5.3) pages with
``limit``/``next`` and filters with ``added_after``. The password comes from the environment,
never from the command line (it would sit in the shell history and the process list).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import typer
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from ..errors import DistillguardError, InvalidInputError
from ..ingest import DEFAULT_STORE
from .keys import SharingKey

PASSWORD_ENV = "DISTILLGUARD_TAXII_PASSWORD"
PAGE = 100

taxii_app = typer.Typer(help="Push and pull shared bundles over TAXII 2.1.", no_args_is_help=True)


def _collection(url: str, user: str | None) -> Collection:
    password = os.environ.get(PASSWORD_ENV) if user else None
    return Collection(url, user=user, password=password)


def _failed(exc: Exception, url: str) -> DistillguardError:
    return DistillguardError(f"TAXII server at {url} refused or failed: {exc}")


def push(
    bundle_path: Path, url: str, user: str | None = None, with_extension_definition: bool = False
) -> dict[str, int]:
    """Add a bundle's objects to the collection; the counts of the server's status.

    The extension-definition object stays out unless asked for: medallion 3.0.0 takes its
    required ``version`` property ("1.0") for a manifest timestamp, and every later Get Objects
    of the collection fails (``medallion/common.py`` ``find_att``). Importers need only the
    extension id the indicators carry; the definition is in every file export."""
    from .stix import load_bundle

    bundle = load_bundle(bundle_path)  # never push what we would refuse to import
    objects = json.loads(bundle.serialize())["objects"]
    if not with_extension_definition:
        objects = [o for o in objects if o["type"] != "extension-definition"]
    envelope = {"objects": objects}
    try:
        status = _collection(url, user).add_objects(envelope, wait_for_completion=True,
                                                    poll_interval=1, timeout=60)
    except (TAXIIServiceException, OSError, ValueError) as exc:
        raise _failed(exc, url) from exc
    return {"success": int(status.success_count), "failure": int(status.failure_count),
            "pending": int(status.pending_count)}


def pull(url: str, out: Path, user: str | None = None, added_after: str | None = None) -> int:
    """Every object of the collection (pages of ``PAGE``) as one bundle file; its size."""
    filters = {"added_after": added_after} if added_after else {}
    objects: list[dict] = []
    try:
        for envelope in as_pages(_collection(url, user).get_objects, per_request=PAGE, **filters):
            objects += envelope.get("objects", [])
    except (TAXIIServiceException, OSError, ValueError) as exc:
        raise _failed(exc, url) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                               "objects": objects}, indent=1))
    return len(objects)


@taxii_app.command("push")
def push_cmd(
    bundle: Path = typer.Argument(..., help="a bundle from `distillguard export stix`"),
    collection: str = typer.Option(..., "--collection", help="the collection URL (…/api-root/collections/ID/)"),
    user: str | None = typer.Option(None, "--user", help=f"HTTP basic user; password from ${PASSWORD_ENV}"),
    with_extension_definition: bool = typer.Option(False, "--with-extension-definition", help="also push the extension-definition object (breaks medallion 3.0.0's Get Objects)"),
) -> None:
    """Push a STIX bundle to a TAXII 2.1 collection."""
    counts = push(bundle, collection, user, with_extension_definition)
    typer.echo(f"pushed {bundle} to {collection}: {counts['success']} added, "
               f"{counts['failure']} refused, {counts['pending']} pending")


@taxii_app.command("pull")
def pull_cmd(
    collection: str = typer.Option(..., "--collection", help="the collection URL (…/api-root/collections/ID/)"),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="the store detect will read"),
    user: str | None = typer.Option(None, "--user", help=f"HTTP basic user; password from ${PASSWORD_ENV}"),
    added_after: str | None = typer.Option(None, "--added-after", help="only objects added after this time (RFC 3339)"),
    key_file: Path | None = typer.Option(None, "--key-file", help="the sharing group's HMAC key file"),
) -> None:
    """Pull a TAXII 2.1 collection into the store (saved as a bundle, then imported)."""
    from .intel import import_bundle
    from .stix import load_bundle, parse_bundle

    if store.exists() and not store.is_dir():
        raise InvalidInputError(f"--store {store} exists and is a file, not a folder")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    saved = store / "taxii" / f"pull-{stamp}.json"
    n = pull(collection, saved, user, added_after)
    typer.echo(f"pulled {n} objects from {collection} into {saved}")
    parsed = parse_bundle(load_bundle(saved))
    try:
        key = SharingKey.load(key_file)
    except DistillguardError:
        if key_file is not None:  # a key file was named: it must be usable
            raise
        key = None
    for line in import_bundle(parsed, store, key).lines():
        typer.echo(line)
