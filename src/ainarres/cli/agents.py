"""`agent run`, `swarm` and `demo`: the agents at work."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from ainarres.agents import config as agent_config
from ainarres.agents.runner import Runner, RunOptions, main_log
from ainarres.agents.swarm import Swarm
from ainarres.cli.context import Ctx, pass_ctx
from ainarres.errors import BadInput

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
    cfg = agent_config.load(Path(config_path)).families.get(family)
    if cfg is None:
        raise BadInput(f'{config_path} has no [families."{family}"] table')
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

    On several machines, run `ainarres agent run` on each against the shared
    AINARRES_DATABASE_URL and hub instead.
    """
    cfg = agent_config.load(Path(config_path))
    crowd = Swarm(ctx.settings, Path(config_path), cfg, sandbox=not no_sandbox,
                  until_idle=until_idle, log=main_log)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: crowd.stop())
    crowd.start()
    try:
        codes = crowd.wait()
    except KeyboardInterrupt:
        codes = crowd.stop()
    sys.exit(max(codes.values(), default=0))


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
@pass_ctx
def demo(ctx: Ctx, demo_dir: str, delay: float, keep_running: bool) -> None:
    """The federated demo: five agents of four families and one integrator ship a brief.

    Builds a hub from sandbox-repo/, wires the families, submits a three-task brief,
    runs the swarm with scripted agents making real commits, shows the board while two
    reviewers of different makers hold reviews at once, integrates through the gate,
    and prints the report.
    """
    from ainarres.demo import run_demo

    sys.exit(run_demo(Path(demo_dir), delay=delay, log=main_log, keep_running=keep_running))


COMMANDS = [agent, swarm, demo]
