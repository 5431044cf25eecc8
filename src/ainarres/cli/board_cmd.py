"""`board [--watch]` and `log`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from ainarres.cli.context import FAMILY_OPTION, JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import active_line, emit_json, safe, stage_counts
from ainarres.store import family_name

if TYPE_CHECKING:
    from ainarres.board.reads import BoardSnapshot


def render_board(snap: BoardSnapshot) -> str:
    """Stage counts, then `- …d25d [reviewing] grok+grok-build age 22s` per active task."""
    lines = [f"stages: {stage_counts(snap)}", f"active ({len(snap.active)}):"]
    lines += [f"- {active_line(a)}" for a in snap.active]
    if snap.blocked:
        lines.append(f"blocked ({len(snap.blocked)}):")
        lines += [
            f"- {b.short_id} [{b.stage}] {safe(b.title)}: {safe(b.blocked_reason or '')}"
            for b in snap.blocked
        ]
    if not snap.integrators:
        lines.append(
            "INTEGRATION HALTED: no family holds an active integrator role "
            "(see `ainarres govern status`)"
        )
    return "\n".join(lines)


@click.command()
@click.option("--watch", is_flag=True, help="Refresh live until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.2), default=1.0, show_default=True)
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def board(ctx: Ctx, watch: bool, interval: float, family: str | None, as_json: bool) -> None:
    """The live board: stage counts and who holds what right now."""
    from ainarres.board import reads

    with ctx.reader(family) as conn:
        if as_json:
            emit_json(reads.board(conn))
            return
        if not watch:
            click.echo(render_board(reads.board(conn)))
            return
        from rich.live import Live
        from rich.text import Text

        with Live(Text(render_board(reads.board(conn))), auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(interval)
                    live.update(Text(render_board(reads.board(conn))), refresh=True)
            except KeyboardInterrupt:
                pass


@click.command()
@click.option("--task", "task_ref", help="Only this task.")
@click.option("--of", "of_family", help="Only events of this family.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def log(
    ctx: Ctx,
    task_ref: str | None,
    of_family: str | None,
    limit: int,
    family: str | None,
    as_json: bool,
) -> None:
    """The append-only event log, newest last."""
    from ainarres.board import reads

    with ctx.reader(family) as conn:
        task = reads.resolve_task(conn, task_ref) if task_ref else None
        if of_family is not None:
            reads.families(conn, family_name(of_family))  # an unknown family is an error
        events = list(reversed(reads.events(conn, task, of_family, limit)))
    if as_json:
        emit_json(events)
        return
    for e in events:
        move = f" {e.from_stage or ''}->{e.to_stage or ''}" if e.from_stage or e.to_stage else ""
        who = e.family or e.actor
        extra = " ".join(f"{k}={v}" for k, v in e.data.items())
        click.echo(
            safe(f"{e.at:%H:%M:%S} {e.short_id or '-'} {e.kind}{move} {who} {extra}".rstrip())
        )


@click.command("report")
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def report_cmd(ctx: Ctx, family: str | None, as_json: bool) -> None:
    """The end-of-run report: shipped tasks, who implemented, reviewed and integrated each,
    and the cross-family review ratio."""
    from ainarres import report

    with ctx.reader(family) as conn:
        built = report.build(conn, canaries=family is None)
    if as_json:
        emit_json(report.as_json(built))
    else:
        click.echo(report.as_text(built))


COMMANDS = [board, log, report_cmd]
