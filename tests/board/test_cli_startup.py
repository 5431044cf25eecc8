"""The CLI starts with what the command needs: `ainarres --help` lists every command from
the table in cli/main.py without importing one, and a command imports its own module only
(issue 19: the agent runner alone cost a quarter of a second on every command)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import click
from boardenv import BoardEnv

from ainarres.cli.main import COMMANDS, cli, load_command

# What no command that does not use it may import: the board's client and models, git,
# the terminal UI, the crypto, the agent runner and the integrator.
HEAVY = (
    "psycopg",
    "pydantic",
    "pygit2",
    "rich",
    "cryptography",
    "ainarres.agents.runner",
    "ainarres.integrate.run",
)
# Modules whose command options need a heavy module when click builds them (an option's
# help text or choices come from it): their --help still imports it.
#   family, govern: `family export --seal` names bundle.PASSPHRASE_ENV (govern adds `lift`);
#   review: --side and --severity choose from review.service; integrate: integrate.run.
HEAVY_AT_IMPORT = {"family", "govern", "review"}


# `python -m ainarres ARGS` that says, as it exits, every module it imported. (Not -X
# importtime: it does not see modules loaded through importlib.import_module.)
PROBE = """
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write("".join(f"\\nMODULE {m}" for m in sys.modules)))
sys.argv = ["ainarres", *sys.argv[1:]]
runpy.run_module("ainarres", run_name="__main__", alter_sys=True)
"""


def _imported(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Run the CLI with ARGS and return its stdout and every module it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, **(env or {})})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, _modules(done.stderr)


def _modules(stderr: str) -> set[str]:
    return {line[7:] for line in stderr.splitlines() if line.startswith("MODULE ")}


def _heavy(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.startswith(HEAVY)}


def test_the_table_names_every_command_with_its_module_and_short_help() -> None:
    ctx = click.Context(cli)
    modules = {module for module, _ in COMMANDS.values()}
    defined: dict[str, str] = {}
    for module in modules:
        for command in importlib.import_module(f"ainarres.cli.{module}").COMMANDS:
            assert command.name is not None
            defined[command.name] = module
            # The table's text is what click makes of the docstring; the two agree at every
            # width only if the command sets no short_help of its own and is shown.
            assert command.short_help is None and not command.hidden and not command.deprecated
            assert COMMANDS[command.name][1] == command.get_short_help_str(10**6)
    assert defined == {name: module for name, (module, _) in COMMANDS.items()}
    for name in COMMANDS:
        assert cli.get_command(ctx, name) is load_command(name)


def test_help_lists_every_command_without_importing_any() -> None:
    out, loaded = _imported("--help")
    assert not _heavy(loaded)
    assert {m for m in loaded if m.startswith("ainarres.cli.")} == {"ainarres.cli.main"}
    listed = out[out.index("Commands:") : out.index("Exit codes:")]
    for name in COMMANDS:
        assert f"\n  {name} " in listed
    assert "next       Claim the next task this family may do: best priority,..." in listed


def test_help_is_what_click_makes_of_the_commands_themselves() -> None:
    lazy = cli.get_help(click.Context(cli, info_name="ainarres"))
    eager = click.Group("ainarres", params=cli.params, help=cli.help, epilog=cli.epilog,
                        context_settings=cli.context_settings)  # fmt: skip
    for name in COMMANDS:
        eager.add_command(load_command(name))
    assert lazy == eager.get_help(click.Context(eager, info_name="ainarres"))


def test_a_command_help_imports_only_its_module() -> None:
    out, loaded = _imported("next", "--help")
    assert "Claim the next task" in out
    assert not _heavy(loaded)
    cli_modules = {m for m in loaded if m.startswith("ainarres.cli.")}
    assert cli_modules <= {"ainarres.cli.main", "ainarres.cli.work", "ainarres.cli.context",
                           "ainarres.cli.render"}  # fmt: skip


def test_no_cli_module_imports_the_board_or_git_until_a_command_runs() -> None:
    light = sorted({module for module, _ in COMMANDS.values()} - HEAVY_AT_IMPORT)
    code = "import sys; " + "; ".join(f"import ainarres.cli.{m}" for m in light)
    done = subprocess.run([sys.executable, "-c", code + "; print(*sys.modules)"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not _heavy(set(done.stdout.split()))


def test_board_reads_without_the_runner_git_or_the_other_commands(board: BoardEnv) -> None:
    out, loaded = _imported("board", "--json", env={
        "AINARRES_HOME": str(board.settings.state_dir), "AINARRES_DATABASE_URL": board.url,
    })  # fmt: skip
    assert "stages" in json.loads(out)
    assert "psycopg" in loaded  # it does read the board
    unused = ("pygit2", "rich", "cryptography", "ainarres.agents", "ainarres.integrate",
              "ainarres.git.", "ainarres.review", "ainarres.report")  # fmt: skip
    assert not {m for m in loaded if m.startswith(unused)}
    assert {m for m in loaded if m.startswith("ainarres.cli.")} == {
        "ainarres.cli.main", "ainarres.cli.board_cmd", "ainarres.cli.context",
        "ainarres.cli.render",
    }  # fmt: skip
