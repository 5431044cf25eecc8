"""`agent run`, `swarm` and `demo`: the agents at work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ainarres.cli.context import Ctx, pass_ctx
from ainarres.errors import AinarresError, BadInput

# The runner, the adapters and the sandbox are imported by the commands that use them: the
# runner alone costs a quarter of a second, which no other command should pay.
if TYPE_CHECKING:
    from ainarres.agents import config as agent_config

CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default="ainarres.toml",
    show_default=True, help="The project's config, with [families.NAME] tables.",
)  # fmt: skip
SANDBOX_OPTION = click.option(
    "--no-sandbox", is_flag=True,
    help="Run the tool without bubblewrap (it can then read every file you can; the board "
         "and the report mark the agent unsandboxed).",
)  # fmt: skip


@click.group()
def agent() -> None:
    """Agents: a family's running instance."""


def _family_config(config_path: str, family: str) -> agent_config.FamilyConfig:
    from ainarres.agents import config as agent_config

    cfg = agent_config.load(Path(config_path)).families.get(family)
    if cfg is None:
        raise BadInput(f'{config_path} has no [families."{family}"] table')
    return cfg


def _sandboxed(no_sandbox: bool) -> bool:
    from ainarres.agents import sandbox

    if no_sandbox:
        return False
    reason = sandbox.unavailable_reason()
    if reason is not None:
        raise BadInput(f"cannot sandbox the tool: {reason}; install bubblewrap, or pass "
                       "--no-sandbox to check it unsandboxed")  # fmt: skip
    return True


@agent.command("check")
@click.option("--family", required=True, help="The family whose tool to check.")
@CONFIG_OPTION
@SANDBOX_OPTION
@pass_ctx
def check(ctx: Ctx, family: str, config_path: str, no_sandbox: bool) -> None:
    """Can FAMILY's tool work here? Runs its version (and help) in the sandbox with the
    family's tool home and environment, looks for its key or login, and connects to its
    model API from the sandbox; says plainly what is wrong. No model is called."""
    from ainarres.agents import preflight

    cfg = _family_config(config_path, family)
    report = preflight.check(ctx.settings, family, cfg, sandboxed=_sandboxed(no_sandbox))
    if report.ok:
        click.echo(report.summary())
        return
    click.echo(f"{family} ({cfg.adapter}) cannot work here:", err=True)
    for problem in report.problems:
        click.echo(f"- {problem}", err=True)
    sys.exit(1)


@agent.command("login")
@click.option("--family", required=True, help="The family whose tool home to seed.")
@CONFIG_OPTION
@click.option(
    "--copy-home",
    is_flag=True,
    help="Copy the tool's own files (e.g. ~/.claude) from your home instead.",
)
@click.option("--where", is_flag=True, help="Only print the family's tool home.")
@pass_ctx
def login(ctx: Ctx, family: str, config_path: str, copy_home: bool, where: bool) -> None:
    """Log FAMILY's tool in, into the family's own tool home.

    Runs the tool's login (e.g. `claude auth login`, `codex login`, `opencode auth
    login`) in the sandbox, on this terminal, with the family's tool home as HOME: the
    login stays there for that family's jobs only. --copy-home copies the tool's files
    from your own home instead; --where prints the folder, to put files in by hand.
    """
    from ainarres.agents import preflight, sandbox, toolhome
    from ainarres.agents.adapters import get_adapter

    cfg = _family_config(config_path, family)
    adapter = get_adapter(cfg.adapter)(cfg.model, cfg.timeout, cfg.command)
    home = toolhome.ensure(ctx.settings, family)
    if where:
        click.echo(str(home))
        return
    if copy_home:
        copied = toolhome.copy_from(toolhome.person_home(), home, adapter)
        if not copied:
            raise BadInput(f"none of {', '.join(adapter.home_paths) or 'the tool files'} is in "
                           f"{toolhome.person_home()}; log in with the tool first, or run "
                           "this without --copy-home")  # fmt: skip
        click.echo(f"copied {', '.join(copied)} into {home}")
        return
    if adapter.login_args is None:
        keys = ", ".join(adapter.key_env) or "its own settings"
        raise BadInput(f"{cfg.adapter} has no login of its own: it takes its key from {keys} "
                       f"(list another variable in families.{family}.env), or put its "
                       f"settings in {home}")  # fmt: skip
    sandboxed = sandbox.unavailable_reason() is None
    env = preflight.tool_env(adapter, cfg, sandboxed, home)
    argv = [adapter.program, *adapter.login_args]
    if sandboxed:
        mounts = sandbox.Mounts(writable=(home,), readable=cfg.read_only_paths, home_dir=home)
        argv = sandbox.wrap(argv, mounts, home, env)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    click.echo(
        f"running {' '.join([adapter.program, *adapter.login_args])} with HOME "
        f"{sandbox.TOOL_HOME if sandboxed else home} ({home})",
        err=True,
    )
    try:
        code = subprocess.call(argv, cwd=home, env=env)
    except OSError as exc:
        raise AinarresError(f"cannot start {adapter.program!r}: {exc.strerror}; install it: "
                            f"{adapter.install}") from None  # fmt: skip
    sys.exit(code)


@agent.command("run")
@click.option("--family", required=True, help="The family to act as (its own credential).")
@click.option("--agent", "agent_name", help="This instance's name (default FAMILY-1).")
@CONFIG_OPTION
@SANDBOX_OPTION
@click.option("--until-idle", type=click.FloatRange(min=0.1), help="Exit after SECONDS idle.")
@click.option("--max-tasks", type=click.IntRange(min=1), help="Exit after N tasks.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=5.0, show_default=True)
@pass_ctx
def run(
    ctx: Ctx,
    family: str,
    agent_name: str | None,
    config_path: str,
    no_sandbox: bool,
    until_idle: float | None,
    max_tasks: int | None,
    poll: float,
) -> None:
    """Loop: claim -> run the family's tool -> push/annotate/create -> done, until stopped.

    SIGTERM or Ctrl-C stops the tool, releases the task and exits 0.
    """
    from ainarres.agents.runner import Runner, RunOptions, main_log

    cfg = _family_config(config_path, family)
    options = RunOptions(family=family, agent=agent_name or f"{family}-1", config=cfg,
                         sandbox=not no_sandbox, poll=poll, until_idle=until_idle,
                         max_tasks=max_tasks)  # fmt: skip
    sys.exit(Runner(ctx.settings, options, log=main_log).run())


@click.command("swarm")
@CONFIG_OPTION
@SANDBOX_OPTION
@click.option(
    "--until-idle", type=click.FloatRange(min=0.1), help="Each agent exits after SECONDS idle."
)
@pass_ctx
def swarm(ctx: Ctx, config_path: str, no_sandbox: bool, until_idle: float | None) -> None:
    """Start every configured agent (instances per family) and stop them together.

    When the hub's folder is on this machine and no resident gate serves it yet, the swarm
    also runs the hub's gate (`ainarres hub gate`) while its agents work, so their pushes
    do not start the gate anew. On several machines, run `ainarres agent run` on each
    against the shared AINARRES_DATABASE_URL and hub instead.
    """
    from ainarres import project
    from ainarres.agents import config as agent_config
    from ainarres.agents.runner import main_log
    from ainarres.agents.swarm import Swarm

    cfg = agent_config.load(Path(config_path))
    _preflight_all(ctx, cfg, no_sandbox)
    crowd = Swarm(ctx.settings, Path(config_path), cfg, sandbox=not no_sandbox,
                  until_idle=until_idle, gate=project.local_hub_dir(ctx.settings),
                  log=main_log)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: crowd.stop())
    crowd.start()
    try:
        codes = crowd.wait()
    except KeyboardInterrupt:
        codes = crowd.stop()
    sys.exit(max(codes.values(), default=0))


def _preflight_all(ctx: Ctx, cfg: agent_config.ProjectConfig, no_sandbox: bool) -> None:
    """The swarm starts no agent while any family's tool cannot work."""
    from ainarres.agents import preflight, sandbox
    from ainarres.agents.runner import main_log

    failed = []
    for family, fam in cfg.families.items():
        sandboxed = not no_sandbox and sandbox.unavailable_reason() is None
        report = preflight.check(ctx.settings, family, fam, sandboxed=sandboxed)
        main_log(f"swarm: preflight: {report.summary()}")
        if not report.ok:
            failed.append(family)
    if failed:
        raise AinarresError(f"swarm: not started: {', '.join(failed)} cannot work (see "
                            "above; ainarres agent check --family F checks one)")  # fmt: skip


@click.command("demo")
@click.option(
    "--state-dir",
    "demo_dir",
    type=click.Path(file_okay=False),
    default=".ainarres-demo",
    show_default=True,
    help="Where the demo's board and hub live (wiped at each run).",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=1.5,
    show_default=True,
    help="Seconds each scripted step takes, so the board can be watched.",
)
@click.option("--keep-running", is_flag=True, help="Leave the demo's PostgreSQL running.")
@click.option("--canaries", is_flag=True,
              help="The canary demo instead: two reviewers of known recall (0.9, 0.3) "
                   "measured by seeded reviews; the report ranks them, governance demotes "
                   "the weak one.")  # fmt: skip
@click.option("--tasks", type=click.IntRange(1, 200), default=48, show_default=True,
              help="With --canaries: how many tasks to brief.")  # fmt: skip
@pass_ctx
def demo(ctx: Ctx, demo_dir: str, delay: float, keep_running: bool, canaries: bool,
         tasks: int) -> None:  # fmt: skip
    """The federated demo: five agents of four families and one integrator ship a brief.

    Builds a hub from sandbox-repo/, wires the families, submits a three-task brief,
    runs the swarm with scripted agents making real commits, shows the board while two
    reviewers of different makers hold reviews at once, integrates through the gate,
    and prints the report. With --canaries: the canary demo (ADR 0018).
    """
    from ainarres.agents.runner import main_log

    if canaries:
        from ainarres.canary.demo import Plan, run_canary_demo

        sys.exit(run_canary_demo(Path(demo_dir), Plan(tasks=tasks), log=main_log))
    from ainarres.demo import run_demo

    sys.exit(run_demo(Path(demo_dir), delay=delay, log=main_log, keep_running=keep_running))


COMMANDS = [agent, swarm, demo]
