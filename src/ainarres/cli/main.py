"""The `ainarres` command: global options, error handling, and the command groups."""

from __future__ import annotations

import sys
import traceback

import click

from ainarres import __version__
from ainarres.cli import (
    agents,
    board_cmd,
    family,
    govern,
    hub,
    integrate,
    join,
    review,
    setup,
    tasks,
    work,
    workflow,
    worktree,
)
from ainarres.cli.context import Ctx
from ainarres.config import resolve
from ainarres.credentials import set_passphrase_source
from ainarres.errors import EXIT_CODES, EXIT_UNEXPECTED, EXIT_USAGE, AinarresError, BadInput
from ainarres.git._run import one_line
from ainarres.text import clip

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code}  {text.replace('`', '')}" for code, text in EXIT_CODES
)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    envvar="AINARRES_HOME",
    type=click.Path(file_okay=False),
    help="State directory (default ./.ainarres, or $AINARRES_HOME).",
)
@click.option(
    "--database-url",
    envvar="AINARRES_DATABASE_URL",
    help="External PostgreSQL >= 14 (or $AINARRES_DATABASE_URL); default: embedded.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(__version__, prog_name="ainarres")
@click.pass_context
def cli(ctx: click.Context, state_dir: str | None, database_url: str | None, verbose: bool) -> None:
    """ainarres: AI coding agents from several makers on one repository, as equals.

    The board is PostgreSQL: a task is a row, the workflow is data, and an agent
    asks for the next task it may do and says when it is done. A person briefs,
    grants and unblocks; families (tool+model pairs) act with their own
    database roles.
    """
    ctx.obj = Ctx(resolve(state_dir, database_url), verbose)
    if sys.stdin.isatty():
        set_passphrase_source(
            lambda path: str(click.prompt(f"Passphrase for {path}", hide_input=True, err=True))
        )


for group in (
    setup,
    family,
    hub,
    tasks,
    work,
    worktree,
    review,
    integrate,
    agents,
    govern,
    board_cmd,
    workflow,
    join,
):
    for command in group.COMMANDS:
        cli.add_command(command)


def _check_arguments(args: list[str]) -> None:
    """Arguments that were not valid UTF-8 reach Python as lone surrogates, which no
    database or file can take: refuse them here, in one line."""
    for i, arg in enumerate(args, 1):
        if any("\udc80" <= ch <= "\udcff" for ch in arg):
            raise BadInput(f"argument {i} ({clip(arg, 40)}) is not valid UTF-8; give text")


def main() -> None:
    """Entry point: run the CLI, turning every failure into a one-line message and exit code."""
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        _check_arguments(sys.argv[1:])
        cli.main(prog_name="ainarres", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("ainarres: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # One line, like every other refusal; the usage text is one --help away.
        where = exc.ctx.command_path if exc.ctx else "ainarres"
        click.echo(f"ainarres: usage: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"ainarres: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except AinarresError as exc:
        click.echo(f"ainarres: error: {one_line(exc.message, 2000)}", err=True)
        sys.exit(exc.exit_code)
    except UnicodeError as exc:
        # A file given as text that is not UTF-8 (a binary --body-file, say).
        click.echo(f"ainarres: error: input is not UTF-8 text ({exc.__class__.__name__}); "
                   "give a UTF-8 text file", err=True)  # fmt: skip
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: say what happened, exit 3
        if verbose:
            traceback.print_exc()
        click.echo(
            f"ainarres: unexpected error: {type(exc).__name__}: {exc} (run with -v)", err=True
        )
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(0)
