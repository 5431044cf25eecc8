"""The `ainarres` command: global options, error handling, and the command groups.

Each command's module is imported only when that command runs (or its own --help is
asked for): `ainarres --help` lists every command from the table below without importing
any of them, and `ainarres board` pays for the board's reads, not for the agent runner.
"""

from __future__ import annotations

import importlib
import sys

import click

from ainarres import __version__
from ainarres.errors import EXIT_CODES, EXIT_UNEXPECTED, EXIT_USAGE, AinarresError, BadInput

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code}  {text.replace('`', '')}" for code, text in EXIT_CODES
)

# Every command: the module of ainarres.cli that defines it (in its COMMANDS) and its short
# help as `ainarres --help` shows it (the first sentence of its docstring;
# tests/board/test_cli_startup.py checks both against the modules).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setup", "Create the state directory and the database, and apply the migrations."),
    "db": ("setup", "The database: start, stop, status, migrate."),
    "family": ("family", "Families: tool+model pairs, each with its own database role."),
    "grant": ("family", "Give FAMILY the ROLE (designer, implementer, reviewer, integrator)."),
    "deny": ("family", "Deny FAMILY the ROLE, overriding its grant until the denial expires "
                       "or is lifted."),
    "lift": ("family", "Lift FAMILY's active denials of ROLE."),
    "revoke": ("family", "Take ROLE back from FAMILY (the grant is removed and logged)."),
    "hub": ("hub", "The hub: a bare repository whose hooks enforce the board's rules."),
    "brief": ("tasks", "A person submits a brief; a designer family splits it into tasks."),
    "task": ("tasks", "Tasks: create (designers only), list, show."),
    "unblock": ("tasks", "A person puts a blocked task back in play (attempts reset)."),
    "next": ("work", "Claim the next task this family may do: best priority, dependencies "
                     "shipped."),
    "push": ("work", "Push the worktree of a held TASK to its branch on the hub, signed, with "
                     "the epoch."),
    "heartbeat": ("work", "Extend the lease on a held TASK (do this while working)."),
    "note": ("work", "Add a note (BODY) to the log of a held TASK."),
    "done": ("work", "This one is done: move a held TASK to its next stage."),
    "return": ("work", "Send a held TASK back (e.g. review -> implement) with a reason."),
    "release": ("work", "Give a held TASK back to the queue, unchanged (what was pushed stays "
                        "on its branch)."),
    "block": ("work", "Stop work on a held TASK until a person unblocks it."),
    "worktree": ("worktree", "An agent's task worktrees."),
    "review": ("review", "Review a task: its diff, line annotations, and the verdict."),
    "integrate": ("integrate", "Merge approved tasks into main: in memory, checked, signed, "
                               "one push per run."),
    "agent": ("agents", "Agents: a family's running instance."),
    "swarm": ("agents", "Start every configured agent (instances per family) and stop them "
                        "together."),
    "demo": ("agents", "The federated demo: five agents of four families and one integrator "
                       "ship a brief."),
    "govern": ("govern", "Governance: the board demotes families whose record trips a policy; "
                         "only a person restores them or bans them for good."),
    "board": ("board_cmd", "The live board: stage counts and who holds what right now."),
    "log": ("board_cmd", "The append-only event log, newest last."),
    "report": ("board_cmd", "The end-of-run report: shipped tasks, who implemented, reviewed "
                            "and integrated each, and the cross-family review ratio."),
    "workflow": ("workflow", "The workflow: stages with their leases and attempts, and who may "
                             "review whom."),
    "web": ("web_cmd", "The local web board: the live board, tasks with their diffs and "
                       "annotations, the report, governance; behind a token."),
    "mcp": ("mcp_cmd", "Serve the board's verbs over MCP (stdio) as FAMILY's agent, for an "
                       "agent tool."),
    "canary": ("canary", "Canaries: review rounds seeded with a known defect, to measure each "
                         "reviewer."),
    "join": ("join", "Set up this machine to run the family of bundle FILE (made by `ainarres "
                     "family export`): its credential with the board's address (and CA file), "
                     "its signing key, the hub."),
}  # fmt: skip


def load_command(name: str) -> click.Command:
    """The command `name`, importing the one module that defines it."""
    module_name, _ = COMMANDS[name]
    module = importlib.import_module(f"ainarres.cli.{module_name}")
    for command in module.COMMANDS:
        if isinstance(command, click.Command) and command.name == name:
            return command
    raise LookupError(f"ainarres.cli.{module_name} defines no command {name!r}")


class LazyGroup(click.Group):
    """click's lazily loading group: a command's module is imported when it is invoked, and
    the command list of --help comes from COMMANDS (the same text click would make)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name))
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            command = loaded if loaded is not None else click.Command(name, help=COMMANDS[name][1])
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
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
    from ainarres.cli.context import Ctx
    from ainarres.config import resolve

    ctx.obj = Ctx(resolve(state_dir, database_url), verbose)
    if sys.stdin.isatty():
        from ainarres.credentials import set_passphrase_source

        set_passphrase_source(
            lambda path: str(click.prompt(f"Passphrase for {path}", hide_input=True, err=True))
        )


def _check_arguments(args: list[str]) -> None:
    """Arguments that were not valid UTF-8 reach Python as lone surrogates, which no
    database or file can take: refuse them here, in one line."""
    for i, arg in enumerate(args, 1):
        if any("\udc80" <= ch <= "\udcff" for ch in arg):
            from ainarres.text import clip

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
        from ainarres.git._run import one_line

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
            import traceback

            traceback.print_exc()
        click.echo(
            f"ainarres: unexpected error: {type(exc).__name__}: {exc} (run with -v)", err=True
        )
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(0)
