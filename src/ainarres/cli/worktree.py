"""`worktree prune`: clean up the worktrees of shipped tasks, never unmerged work."""

from __future__ import annotations

import click

from ainarres.cli.context import AGENT_OPTION, FAMILY_OPTION, JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.errors import BadInput


@click.group()
def worktree() -> None:
    """An agent's task worktrees."""


@worktree.command("prune")
@FAMILY_OPTION
@AGENT_OPTION
@JSON_OPTION
@pass_ctx
def prune(ctx: Ctx, family: str | None, agent_name: str | None, as_json: bool) -> None:
    """Remove worktrees of tasks no longer open whose commits are all on main.

    A worktree with uncommitted changes or commits main lacks is kept, and the
    reason is printed.
    """
    from ainarres.board import reads
    from ainarres.work import implement

    if not family:
        raise BadInput("pass --family NAME (or set AINARRES_FAMILY)")
    with ctx.reader(family) as conn:
        keep = reads.open_branches(conn)
    with ctx.agent(family, agent_name) as (agent, _):
        report = implement.prune(ctx.settings, family, agent.name, keep)
    if as_json:
        emit_json(
            {
                "removed": report.removed,
                "kept": [
                    {"branch": k.branch, "path": str(k.path), "reason": k.reason}
                    for k in report.kept
                ],
            }
        )
        return
    for branch in report.removed:
        click.echo(f"removed {branch}")
    for k in report.kept:
        click.echo(f"kept {k.branch} at {k.path}: {k.reason}")
    if not report.removed and not report.kept:
        click.echo("nothing to prune")


COMMANDS = [worktree]
