"""The ``distillguard`` command. Each stage registers its own sub-commands.

A stage exposes ``register(app: typer.Typer) -> None`` in ``distillguard.<stage>.cli``.
Every :class:`DistillguardError` becomes one clear line on stderr and its exit code (2, or 3
when the input held no usable record).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer
import yaml

from . import __version__
from .errors import DistillguardError, InvalidParameterError
from .policy import Policy

STAGE_CLIS: tuple[str, ...] = (
    "distillguard.sim.cli",  # simulate
    "distillguard.engines.cli",  # detect
    "distillguard.bench.cli",  # bench, bench-suite, bench-transfer, train
    "distillguard.bench.redteam_cli",  # bench-redteam
    "distillguard.scoring.cli",  # learn
    "distillguard.online.cli",  # serve, replay, appeal, audit
    "distillguard.console.cli",  # console
    "distillguard.sharing.cli",  # export stix|misp, import stix, taxii push|pull
    "distillguard.signup.cli",  # signup-bench
    "distillguard.countermeasures.cli",  # canary check, watermark detect, watermark-bench
)

app = typer.Typer(
    name="distillguard",
    help="Find and stop distillation attacks on LLM APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(help="Show and check policy files.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@policy_app.command("show")
def policy_show(
    path: Path | None = typer.Argument(None, help="policy YAML; defaults when omitted"),
) -> None:
    """Print the effective policy (defaults merged with PATH) as YAML."""
    pol = Policy.load(path)
    typer.echo(f"# policy version {pol.version} from {pol.source}")
    typer.echo(pol.to_yaml())


@policy_app.command("check")
def policy_check(path: Path = typer.Argument(..., help="policy YAML to validate")) -> None:
    """Validate a policy file; exit 2 with the first problem."""
    pol = Policy.load(path)
    typer.echo(f"ok: {path} (policy version {pol.version})")


@policy_app.command("init")
def policy_init(
    path: Path = typer.Argument(Path("policy.yaml"), help="where to write the policy"),
    enforce: bool = typer.Option(
        False, "--enforce", help="switch enforcement on (shadow: false); default: shadow mode"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
) -> None:
    """Write the default policy to PATH, in shadow mode unless --enforce."""
    if path.exists() and not force:
        raise InvalidParameterError(f"{path} exists; pass --force to overwrite it")
    data = yaml.safe_load(Policy.load(None).to_yaml())
    data["online"]["shadow"] = not enforce
    mode = (
        "ENFORCING: rules act on traffic"
        if enforce
        else "SHADOW: actions are recorded (audit, metrics), nothing is enforced"
    )
    header = (
        f"# distillguard policy ({mode}).\n"
        "# Check it with `distillguard policy check`; see README \"Rolling out enforcement\".\n"
    )
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    pol = Policy.load(path)  # what we wrote must load
    typer.echo(f"wrote {path} (policy version {pol.version}): {mode}")


def _register_stages() -> None:
    for mod_name in STAGE_CLIS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name != mod_name:
                raise
            continue
        mod.register(app)


_register_stages()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except DistillguardError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
