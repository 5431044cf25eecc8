"""`review show|annotate|approve|return`: the reviewer's commands."""

from __future__ import annotations

from typing import TextIO
from uuid import UUID

import click

from ainarres.board import reads
from ainarres.board.verbs import Agent
from ainarres.cli import work as work_cmds
from ainarres.cli.context import (
    FAMILY_OPTION,
    JSON_OPTION,
    Ctx,
    Said,
    held_options,
    held_verb,
    pass_ctx,
)
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
        loaded = service.load(ctx.settings, conn, task, family)
    if as_json:
        emit_json(render.as_json(loaded))
    else:
        click.echo(render.as_text(loaded))


@review.command("annotate")
@click.option("--file", "file_", required=True, help="A path in the diff.")
@click.option(
    "--line", type=click.IntRange(1, 10_000_000), required=True,
    help="A line number shown in the diff.",
)  # fmt: skip
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
    if body is not None and body_file is not None:
        raise BadInput("give --body or --body-file, not both")
    if body_file is not None:
        body = body_file.read(service.MAX_BODY * 64)  # enough to say how much too long
    if body is None:
        raise BadInput("give the annotation with --body or --body-file")
    remark = service.Remark(file_, line, side, severity, body)

    def act(a: Agent, t: UUID, e: int, said: Said) -> Outcome:
        done = service.annotate(ctx.settings, a, reads.show_task(a.conn, t), e, remark)
        said.warning = done.note_problem
        return done.outcome

    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, act, forget=False)


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

    def act(a: Agent, t: UUID, e: int, said: Said) -> Outcome:
        task = reads.show_task(a.conn, t)
        done = service.conclude(ctx.settings, a, task, e, "approve", "")
        said.warning = done.note_problem
        return done.outcome

    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, act)


# Returning a review is the same act as the top-level `ainarres return`: one command, two
# places (the verdict is mirrored to the hub's review notes either way).
review.add_command(work_cmds.return_, "return")

COMMANDS = [review]
