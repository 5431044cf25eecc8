"""`brief`, `task create|list|show`, `unblock`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ainarres.cli.context import AGENT_OPTION, FAMILY_OPTION, JSON_OPTION, AgentState, Ctx, pass_ctx
from ainarres.cli.render import emit_json, finish, safe
from ainarres.errors import BadInput

if TYPE_CHECKING:
    from ainarres.board.verbs import Agent
    from ainarres.models import Outcome

MAX_BODY = 65536


def _body(body: str | None, body_file: click.File | None) -> str:
    if body is not None and body_file is not None:
        raise BadInput("give --body or --body-file, not both")
    text = body_file.read(MAX_BODY + 1) if body_file is not None else (body or "")  # type: ignore[attr-defined]
    return str(text)


@click.command()
@click.argument("title")
@click.option("--body", help="The brief's text.")
@click.option(
    "--body-file", type=click.File("r"), help="Read the text from a file ('-' for stdin)."
)
@click.option(
    "--priority",
    type=click.IntRange(-1000, 1000),
    default=0,
    show_default=True,
    help="-1000..1000, higher first.",
)
@JSON_OPTION
@pass_ctx
def brief(
    ctx: Ctx,
    title: str,
    body: str | None,
    body_file: click.File | None,
    priority: int,
    as_json: bool,
) -> None:
    """A person submits a brief; a designer family splits it into tasks."""
    from ainarres.board import admin

    with ctx.operator() as conn:
        finish(admin.brief(conn, title, _body(body, body_file), priority), as_json)


@click.group()
def task() -> None:
    """Tasks: create (designers only), list, show."""


@task.command("create")
@click.option("--title", required=True)
@click.option("--body", help="What to do, for the implementer.")
@click.option(
    "--body-file", type=click.File("r"), help="Read the body from a file ('-' for stdin)."
)
@click.option(
    "--priority",
    type=click.IntRange(-1000, 1000),
    default=0,
    show_default=True,
    help="-1000..1000, higher first.",
)
@click.option("--depends-on", multiple=True, help="A task that must ship first (repeatable).")
@click.option("--parent", help="The brief this task comes from.")
@FAMILY_OPTION
@AGENT_OPTION
@JSON_OPTION
@pass_ctx
def task_create(
    ctx: Ctx,
    title: str,
    body: str | None,
    body_file: click.File | None,
    priority: int,
    depends_on: tuple[str, ...],
    parent: str | None,
    family: str | None,
    agent_name: str | None,
    as_json: bool,
) -> None:
    """Create a task. Only a family holding the workflow's first step (designer) may."""
    from ainarres.board import reads

    text = _body(body, body_file)

    def create(agent: Agent, _: AgentState) -> Outcome:
        deps = [reads.resolve_task(agent.conn, d) for d in depends_on]
        parent_id = reads.resolve_task(agent.conn, parent) if parent else None
        return agent.create_task(title, text, priority=priority, depends_on=deps, parent=parent_id)

    finish(ctx.act(family, agent_name, create), as_json)


@task.command("list")
@click.option("--stage", help="Only this stage (closed tasks included).")
@click.option("--all", "include_closed", is_flag=True, help="Include shipped and designed tasks.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def task_list(
    ctx: Ctx, stage: str | None, include_closed: bool, limit: int, family: str | None, as_json: bool
) -> None:
    """Tasks in workflow order, best priority first."""
    from ainarres.board import reads

    with ctx.reader(family) as conn:
        rows = reads.list_tasks(conn, stage, include_closed, limit)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        holder = f" held by {r.holder_family}/{r.holder_agent}" if r.holder_family else ""
        flag = f" BLOCKED: {safe(r.blocked_reason or '')}" if r.blocked else ""
        click.echo(f"{r.short_id} [{r.stage}] p{r.priority} {safe(r.title)}{holder}{flag}")
    if not rows:
        click.echo("no tasks")


@task.command("show")
@click.argument("task_ref", metavar="TASK")
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def task_show(ctx: Ctx, task_ref: str, family: str | None, as_json: bool) -> None:
    """One task, whole, with its history."""
    from ainarres.board import reads

    with ctx.reader(family) as conn:
        t = reads.show_task(conn, reads.resolve_task(conn, task_ref))
        history = reads.events(conn, task=t.id, limit=1000)
    if as_json:
        emit_json(
            {
                "task": t.model_dump(mode="json"),
                "events": [e.model_dump(mode="json") for e in reversed(history)],
            }
        )
        return
    click.echo(
        f"{t.short_id} {safe(t.title)}\n  id {t.id}\n  stage {t.stage} ({t.workflow}), "
        f"priority {t.priority}, attempts {t.attempts}, epoch {t.claim_epoch}"
    )
    if t.holder_family:
        click.echo(f"  held by {t.holder_family} until {t.lease_expires_at}")
    if t.blocked:
        click.echo(f"  BLOCKED: {safe(t.blocked_reason or '')}")
    if t.depends_on:
        click.echo("  depends on " + ", ".join(str(d) for d in t.depends_on))
    if t.body:
        click.echo("\n" + safe(t.body) + "\n")
    for e in reversed(history):
        who = e.family or e.actor
        move = f" {e.from_stage or ''}->{e.to_stage or ''}" if e.from_stage or e.to_stage else ""
        click.echo(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.kind}{move} by {who} {safe(_detail(e.data))}")


def _detail(data: dict[str, object]) -> str:
    for key in ("reason", "body", "title"):
        if key in data:
            return f"{key}: {data[key]}"
    return ""


@click.command()
@click.argument("task_ref", metavar="TASK")
@click.option("--reason", required=True, help="What the person looked at; recorded.")
@JSON_OPTION
@pass_ctx
def unblock(ctx: Ctx, task_ref: str, reason: str, as_json: bool) -> None:
    """A person puts a blocked task back in play (attempts reset)."""
    from ainarres.board import admin, reads

    with ctx.operator() as conn:
        finish(admin.unblock(conn, reads.resolve_task(conn, task_ref), reason), as_json)


COMMANDS = [brief, task, unblock]
