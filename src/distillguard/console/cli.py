"""``distillguard console``: serve the analyst console, or create its first admin."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..errors import InvalidParameterError

ENV_USER = "DISTILLGUARD_ADMIN_USER"
ENV_PASSWORD = "DISTILLGUARD_ADMIN_PASSWORD"


def create_admin(data_dir: Path, username: str | None = None, password: str | None = None) -> str:
    """Create an admin in ``data_dir/console.sqlite``: from the arguments, else the
    ``DISTILLGUARD_ADMIN_USER``/``_PASSWORD`` environment variables, else a prompt."""
    from .auth import ConsoleDB

    username = username or os.environ.get(ENV_USER) or typer.prompt("admin username")
    password = password or os.environ.get(ENV_PASSWORD)
    if not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    db = ConsoleDB(Path(data_dir) / "console.sqlite")
    try:
        db.add_user(username, password, "admin", created_by="cli:create-admin")
    finally:
        db.close()
    from ..online.audit import AuditLog

    AuditLog(Path(data_dir) / "audit.jsonl").append(
        "add_user", "user", username, "cli", "first admin created with --create-admin",
        extra={"role": "admin"},
    )
    return username


def register(app: typer.Typer) -> None:
    """Add the ``console`` command to the main CLI."""

    @app.command("console")
    def console(
        host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on"),
        port: int = typer.Option(8400, "--port", help="TCP port"),
        data: Path = typer.Option(
            Path("./distillguard-data"), "--data", help="the store folder written by detect"
        ),
        create_admin_: bool = typer.Option(
            False, "--create-admin",
            help=f"create an admin user (prompts, or reads ${ENV_USER}/${ENV_PASSWORD}) and exit",
        ),
    ) -> None:
        """Serve the analyst console (case queue, clusters, accounts, actions, audit log)."""
        if not 0 < port < 65536:
            raise InvalidParameterError(f"--port must be in 1..65535; got {port}")
        if create_admin_:
            name = create_admin(data)
            typer.echo(f"admin {name!r} created in {data / 'console.sqlite'}")
            typer.echo(f"start the console: distillguard console --data {data} --port {port}")
            return
        from .auth import ConsoleDB

        no_users = InvalidParameterError(
            f"no console users yet in {data}: run `distillguard console --data {data} "
            "--create-admin` first"
        )
        if not (data / "console.sqlite").exists():
            raise no_users
        db = ConsoleDB(data / "console.sqlite")
        try:
            if db.n_users() == 0:
                raise no_users
        finally:
            db.close()
        if not (data / "store.duckdb").exists():
            typer.secho(
                f"warning: no store at {data / 'store.duckdb'} yet; pages will say so until "
                f"`distillguard detect ... --store {data}` has run",
                fg=typer.colors.YELLOW, err=True,
            )
        import uvicorn

        from .app import create_app

        typer.echo(f"distillguard console on http://{host}:{port}/  (data: {data})")
        uvicorn.run(create_app(data, warm=True), host=host, port=port, log_level="warning")
