"""`hub init` and `hub show`: the bare repository only the integrator can move main in."""

from __future__ import annotations

from pathlib import Path

import click

from ainarres import project
from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.errors import BadInput
from ainarres.git import hub as hubs
from ainarres.integrate.checks import load_checks
from ainarres.integrate.detect import likely_test_command
from ainarres.integrate.run import CONFIG


@click.group()
def hub() -> None:
    """The hub: a bare repository whose hooks enforce the board's rules."""


@hub.command("init")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The project to put on main (a git repository or a plain folder).",
)
@click.option(
    "--path",
    type=click.Path(file_okay=False),
    help="Where to make the hub (default: STATE_DIR/hub.git).",
)
@click.option(
    "--checks",
    "test_command",
    help="Add [checks] test = COMMAND to ainarres.toml on main (integrate runs it on every "
    "merge, and refuses to merge without checks).",
)
@pass_ctx
def hub_init(ctx: Ctx, source: str, path: str | None, test_command: str | None) -> None:
    """Make the hub from a project, install the gate, and bind it to this board.

    Every family's signing key becomes an allowed signer. Agents reach the hub by
    path or file:// here; any transport that runs receive-pack works the same.
    """
    with ctx.operator() as conn:
        made = project.init_hub(conn, ctx.settings, Path(source), Path(path) if path else None,
                                test_command)  # fmt: skip
    click.echo(f"hub ready at {made}; main holds {Path(source).resolve().name}")
    proposal = None if test_command else checks_proposal(Path(source))
    if proposal:
        click.echo(proposal, err=True)


def checks_proposal(source: Path) -> str | None:
    """What to say when main has no usable [checks]: integrate refuses until it has."""
    try:
        text = (source / CONFIG).read_text(encoding="utf-8")
        load_checks(text)
        return None
    except (OSError, UnicodeDecodeError, BadInput):
        pass
    guess = likely_test_command(source)
    table = f'[checks]\ntest = "{guess or "<the command that runs your tests>"}"'
    found = f"this looks like `{guess}`" if guess else "no test command was recognised"
    return (
        f"ainarres: note: main has no [checks] in {CONFIG}, so `ainarres integrate` will "
        f'refuse to merge until it has; {found}. Make the hub with --checks "COMMAND", or '
        f"add to {CONFIG} through a task (integrated once with --no-checks), or skip = "
        f'"why" for a project with nothing to check:\n{table}'
    )


@hub.command("show")
@JSON_OPTION
@pass_ctx
def hub_show(ctx: Ctx, as_json: bool) -> None:
    """Where the hub is."""
    where = project.require_hub(ctx.settings)
    if as_json:
        emit_json({"url": where.url, "path": None if where.local is None else str(where.local)})
    else:
        click.echo(str(where))


@hub.command("check")
@JSON_OPTION
@pass_ctx
def hub_check(ctx: Ctx, as_json: bool) -> None:
    """Verify the hub's hooks are ainarres's own, unmodified (digests recorded at install),
    and that the settings the gate relies on are intact. Exits 1 and says what differs."""
    where = project.require_hub(ctx.settings).require_local("hub check")
    problems = hubs.check_hub(where)
    if as_json:
        emit_json({"hub": str(where), "problems": problems})
    elif problems:
        for line in problems:
            click.echo(f"ainarres: hub check: {line}", err=True)
    else:
        click.echo(f"hub {where}: hooks and settings as installed")
    if problems:
        raise SystemExit(1)


COMMANDS = [hub]
