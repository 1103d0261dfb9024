"""CLI: ``serve``, ``replay``, ``appeal`` and ``audit verify``."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from ..errors import InvalidInputError, InvalidParameterError

DEFAULT_DATA = Path("distillguard-data")
SERVE_CONFIG_ENV = "DISTILLGUARD_SERVE_CONFIG"


@dataclass
class ServeConfig:
    """What ``serve`` builds one scoring app from (in each worker process)."""

    data: str
    policy: str | None
    state: str
    shadow: bool
    api_token: str
    learner: str = "process"

    def build(self) -> tuple[Any, str]:
        """The FastAPI app, with its scorer and featurizer process started, and a banner."""
        from .scorer import OnlineScorer
        from .service import create_app

        admin = os.environ.get("DISTILLGUARD_ADMIN_TOKEN")
        scorer = OnlineScorer(
            self.data,
            self.policy,
            state=self.state,
            shadow=True if self.shadow else None,
            featurize_process=True,
        )
        scorer.learner_in_process = self.learner == "process"
        learner = scorer.learner()
        ready = getattr(learner, "ready", None)
        if ready is not None:  # answer once a learner process can score (sync scores)
            ready.wait(120)  # start the featurizer process before the first request
        banner = (
            f"distillguard serve  policy {scorer.policy.version}"
            f"  state {scorer.state.kind}  results {scorer.cache.summary()['accounts']} accounts"
            + ("  SHADOW" if scorer.shadow else "")
            + ("" if admin else "  (admin API off: no DISTILLGUARD_ADMIN_TOKEN)")
        )
        return create_app(scorer, self.api_token, admin), banner


def app_from_environment() -> Any:
    """uvicorn's app factory for ``serve --workers N``: one app per worker process."""
    app_, _ = ServeConfig(**json.loads(os.environ[SERVE_CONFIG_ENV])).build()
    return app_


def register(app: typer.Typer) -> None:
    """Add the online stage's commands to the ``distillguard`` app."""
    audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")
    app.command()(serve)
    app.command("replay")(replay_cmd)
    app.command()(appeal)
    audit_app.command("verify")(audit_verify)
    audit_app.command("repair")(audit_repair)
    audit_app.command("checkpoint")(audit_checkpoint)
    audit_app.command("show")(audit_show)


def serve(
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8300, help="port"),
    token: str | None = typer.Option(None, help="API token (else DISTILLGUARD_API_TOKEN)"),
    data: Path = typer.Option(
        DEFAULT_DATA,
        "--data",
        help="store written by detect --store; audit and actions live here",
    ),
    policy: Path | None = typer.Option(None, help="policy YAML (hot-reloaded on change)"),
    state: str = typer.Option(
        "memory", help="'memory' or redis://host:port/db (shared by replicas)"
    ),
    shadow: bool = typer.Option(False, "--shadow", help="only record what would be done"),
    workers: int = typer.Option(
        1, min=1, help="server processes; more than one needs --state redis://… to share state"
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level"),
    learner: str = typer.Option(
        "process",
        help="where full scoring runs: 'process' (its own process, off the answers' GIL) "
        "or 'thread' (a thread of the serving process)",
    ),
) -> None:
    """Run the scoring service (FastAPI) next to the gateway."""
    api_token = _api_token(token)
    _check_workers(workers, state)
    if learner not in ("process", "thread"):
        raise InvalidParameterError(f"--learner must be 'process' or 'thread', not {learner!r}")
    config = ServeConfig(
        str(data), str(policy) if policy else None, state, shadow, api_token, learner
    )
    if workers == 1:
        _serve_one(config, host, port, log_level)
    else:
        _serve_workers(config, workers, host, port, log_level)


def _api_token(token: str | None) -> str:
    api_token = token or os.environ.get("DISTILLGUARD_API_TOKEN")
    if not api_token:
        raise InvalidParameterError(
            "the scoring API needs a token: --token or DISTILLGUARD_API_TOKEN"
        )
    return api_token


def _check_workers(workers: int, state: str) -> None:
    if workers > 1 and not state.startswith("redis://"):
        raise InvalidParameterError(
            f"--workers {workers} needs --state redis://…: each worker would keep its own "
            "memory state and see only its share of an account's requests"
        )


def _serve_one(config: ServeConfig, host: str, port: int, log_level: str) -> None:
    import uvicorn

    app_, banner = config.build()
    typer.echo(banner, err=True)
    uvicorn.run(app_, host=host, port=port, log_level=log_level, access_log=False)


def _serve_workers(config: ServeConfig, workers: int, host: str, port: int, log_level: str) -> None:
    import uvicorn

    # uvicorn starts each worker from an import string; the settings travel in the
    # environment (the token included, as DISTILLGUARD_API_TOKEN would).
    os.environ[SERVE_CONFIG_ENV] = json.dumps(config.__dict__)
    typer.echo(f"distillguard serve on http://{host}:{port}  {workers} workers", err=True)
    uvicorn.run(
        "distillguard.online.cli:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
    )


def replay_cmd(
    logs: list[Path] = typer.Argument(..., help="request log(s): JSONL, .jsonl.gz or Parquet"),
    speed: float = typer.Option(0.0, help="log-time speed-up (0 = as fast as possible)"),
    data: Path | None = typer.Option(
        None, "--data", help="scorer data dir (a temp dir when omitted)"
    ),
    policy: Path | None = typer.Option(None, help="policy YAML"),
    state: str = typer.Option("memory", help="'memory' or redis://…"),
    labels: Path | None = typer.Option(None, help="labels.csv (default: beside the log)"),
    use_results: bool = typer.Option(False, help="preload batch verdicts from --data"),
    batch: Path | None = typer.Option(
        None, help="batch results (store or findings dir) to compare recall with"
    ),
    out: Path | None = typer.Option(None, help="write the full report as JSON here"),
) -> None:
    """Feed a log through the online path in time order; report time-to-detect."""
    from .replay import render_markdown, replay

    rep = replay(
        logs,
        data,
        speed=speed,
        policy=policy,
        state=state,
        labels=labels,
        use_results=use_results,
        batch_results=batch,
    )
    typer.echo(render_markdown(rep))
    if out is not None:
        out.write_text(json.dumps(rep.to_dict(), indent=2))


def appeal(
    account: str = typer.Argument(..., help="account id"),
    reason: str = typer.Option(..., help="why the actions are reversed"),
    data: Path = typer.Option(
        DEFAULT_DATA, "--data", help="data dir (actions.sqlite, audit.jsonl)"
    ),
    actor: str | None = typer.Option(None, help="who decides (default: the OS user)"),
    allow: bool = typer.Option(True, help="also allow-list the account"),
) -> None:
    """Reverse every active action on ACCOUNT (audited) and allow-list it."""
    from .actions import ActionStore
    from .audit import AuditLog

    if not data.is_dir():
        raise InvalidInputError(f"--data {data}: not a folder")
    audit = AuditLog(data / "audit.jsonl")
    store = ActionStore(data / "actions.sqlite", audit)
    who = actor or getpass.getuser()
    reversed_ids = _reverse_active(store, account, who, reason)
    allow_id = store.allow(account, actor=who, reason=f"appeal: {reason}") if allow else None
    store.close()
    typer.echo(
        f"{account}: reversed {len(reversed_ids)} action(s) {reversed_ids}"
        + (f"; allow-listed (action {allow_id})" if allow_id else "")
    )


def _reverse_active(store: Any, account: str, who: str, reason: str) -> list[Any]:
    """Reverse the account's active actions (an allow-listing stays); their ids."""
    reversed_ids = []
    for a in store.active(account):
        if a["action"] != "allow":
            store.reverse(a["id"], actor=who, reason=reason)
            reversed_ids.append(a["id"])
    return reversed_ids


def _audit_data_option() -> Any:
    """``--data`` of the audit commands (a fresh option each)."""
    return typer.Option(DEFAULT_DATA, "--data", help="data dir holding audit.jsonl")


def audit_verify(
    data: Path = _audit_data_option(),
    checkpoint: Path | None = typer.Option(
        None, help="an exported checkpoint to compare with (default: the checkpoint file)"
    ),
) -> None:
    """Re-walk the keyed chain and compare its head with the last signed checkpoint.

    Exit 1 when an entry was changed, removed or reordered, the log was truncated, or the
    log, the data folder, the key or the checkpoint is missing.
    """
    from .audit import AuditLog

    cp = _read_checkpoint(checkpoint) if checkpoint is not None else None
    res = AuditLog(data / "audit.jsonl").verify(checkpoint=cp)
    typer.echo(("ok: " if res.ok else "FAILED: ") + res.message)
    if not res.ok:
        raise typer.Exit(1)


def _read_checkpoint(path: Path) -> Any:
    """The exported checkpoint's JSON; exit 1 (as a failed check) when it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"FAILED: checkpoint {path}: {exc}")
        raise typer.Exit(1) from None


def audit_repair(
    data: Path = _audit_data_option(),
) -> None:
    """Move a damaged tail aside (kept as audit.jsonl.damaged-*) and audit the repair.

    Safe while the service runs: appends are locked, and enforcement does not wait.
    """
    from .audit import AuditLog

    if not (data / "audit.jsonl").is_file():
        raise InvalidInputError(f"{data / 'audit.jsonl'}: no audit log")
    log_ = AuditLog(data / "audit.jsonl")
    entry = log_.repair()
    if entry is None:
        typer.echo("nothing to repair")
        return
    x = entry["extra"]
    typer.echo(
        f"ALERT: moved {x['bytes']} damaged bytes after entry {x['after_seq']} "
        f"to {x['set_aside']} (sha256 {x['sha256'][:16]}…); recorded as entry {entry['seq']}"
    )


def audit_checkpoint(
    data: Path = _audit_data_option(),
    out: Path | None = typer.Option(None, help="write it here (default: print it)"),
) -> None:
    """Export the newest signed checkpoint (count, head hash), to keep somewhere else."""
    from .audit import AuditLog

    text = json.dumps(AuditLog(data / "audit.jsonl").export_checkpoint(), sort_keys=True)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")


def audit_show(
    data: Path = _audit_data_option(),
    subject: str | None = typer.Option(None, help="only this subject id"),
    limit: int = typer.Option(20, help="newest N entries"),
) -> None:
    """Print the newest audit entries as JSON lines."""
    from .audit import AuditLog

    for e in AuditLog(data / "audit.jsonl").entries(subject, limit):
        typer.echo(json.dumps(e, sort_keys=True))
