"""`review show|annotate|approve|return`: the reviewer's commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO
from uuid import UUID

import click

from ainarres.board import reads
from ainarres.board.verbs import Agent
from ainarres.cli.context import FAMILY_OPTION, JSON_OPTION, Ctx, held_options, held_verb, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.errors import BadInput
from ainarres.models import Outcome
from ainarres.review import render, service


@click.group()
def review() -> None:
    """Review a task: its diff, line annotations, and the verdict."""


@review.command("show")
@click.argument("task_ref", metavar="TASK")
@FAMILY_OPTION
@JSON_OPTION
@pass_ctx
def show(ctx: Ctx, task_ref: str, family: str | None, as_json: bool) -> None:
    """The task's diff (merge base with main .. reviewed head), annotations inline.

    --json gives files, hunks, lines and annotations in a stable schema
    (ainarres.review/1) an agent can read.
    """
    with ctx.reader(family) as conn:
        task = reads.show_task(conn, reads.resolve_task(conn, task_ref))
        loaded = service.load(ctx.settings, conn, task, family or "operator")
    if as_json:
        emit_json(render.as_json(loaded))
    else:
        click.echo(render.as_text(loaded))


def _note_after(
    ctx: Ctx, box: list[Agent], kind: str, text: str
) -> Callable[[Outcome], str | None]:
    """Once the board has the verdict or annotation, mirror it as a git note on the hub."""

    def after(out: Outcome) -> str | None:
        task = out.task
        if not box or task is None or task.head_commit is None:
            return None
        agent = box[0]
        line = service.note_line(kind, agent.family, task, text)
        owner = f"{agent.family}/{agent.name}"
        why = service.mirror_note(ctx.settings, agent.family, owner, task.head_commit, line)
        return None if why is None else f"on the board, but the git note did not land: {why}"

    return after


@review.command("annotate")
@click.option("--file", "file_", required=True, help="A path in the diff.")
@click.option("--line", type=int, required=True, help="A line number shown in the diff.")
@click.option("--side", type=click.Choice(service.SIDES), default="new", show_default=True)
@click.option(
    "--severity", type=click.Choice(service.SEVERITIES), default="minor", show_default=True
)
@click.option("--body", help="What is wrong and what to do.")
@click.option("--body-file", type=click.File("r"), help="Read the body from a file ('-': stdin).")
@held_options
def annotate(
    ctx: Ctx,
    task_ref: str,
    file_: str,
    line: int,
    side: str,
    severity: str,
    body: str | None,
    body_file: TextIO | None,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Annotate a line of the diff of a review you hold (mirrored as a git note)."""
    if body_file is not None and body is None:
        body = body_file.read(service.MAX_BODY * 64)  # enough to say how much too long
    if body is None:
        raise BadInput("give the annotation with --body or --body-file")
    text = body
    box: list[Agent] = []

    def act(a: Agent, t: UUID, e: int) -> Outcome:
        box.append(a)
        return service.annotate(
            ctx.settings, a, reads.show_task(a.conn, t), e, file_, line, side, severity, body
        )

    note = f"{file_}:{line} ({side}) [{severity}] {text}"
    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        act,
        forget=False,
        after=_note_after(ctx, box, "annotate", note),
    )


@review.command("approve")
@held_options
def approve(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Approve the reviewed head: only that exact commit may then be integrated."""
    box: list[Agent] = []

    def act(a: Agent, t: UUID, e: int) -> Outcome:
        box.append(a)
        return service.approve(ctx.settings, a, reads.show_task(a.conn, t), e)

    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        act,
        after=_note_after(ctx, box, "approve", ""),
    )


@review.command("return")
@click.option("--reason", required=True, help="What must change; the implementer sees it.")
@held_options
def return_(
    ctx: Ctx,
    task_ref: str,
    reason: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Send the task back to implement with your annotations; a new round starts on push."""
    box: list[Agent] = []

    def act(a: Agent, t: UUID, e: int) -> Outcome:
        box.append(a)
        return a.return_task(t, e, reason)

    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        act,
        after=_note_after(ctx, box, "return", reason),
    )


COMMANDS = [review]
