"""The agent's loop from a shell: next, heartbeat, note, done, return, release, block."""

from __future__ import annotations

from uuid import UUID

import click

from ainarres import project
from ainarres.agents import workspace
from ainarres.board import reads
from ainarres.board.reads import show_task
from ainarres.board.verbs import Agent
from ainarres.cli.context import (
    AGENT_OPTION,
    FAMILY_OPTION,
    JSON_OPTION,
    Ctx,
    held_options,
    held_verb,
    pass_ctx,
)
from ainarres.cli.render import emit_json, finish
from ainarres.errors import AinarresError
from ainarres.models import Outcome


@click.command("next")
@click.option("--wait", is_flag=True, help="Sleep until a task becomes claimable (LISTEN/NOTIFY).")
@click.option("--timeout", type=click.FloatRange(min=0), help="With --wait: give up after SECONDS.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="With --wait: backstop re-check every SECONDS (for expiring leases).",
)
@FAMILY_OPTION
@AGENT_OPTION
@JSON_OPTION
@pass_ctx
def next_(
    ctx: Ctx,
    wait: bool,
    timeout: float | None,
    poll: float,
    family: str | None,
    agent_name: str | None,
    as_json: bool,
) -> None:
    """Claim the next task this family may do: best priority, dependencies shipped.

    Prints the task and the claim epoch, the fencing token later verbs must carry
    (the CLI remembers it for this agent). Exits 5 when there is nothing to do.
    """
    worktree = None
    feedback = None
    with ctx.agent(family, agent_name) as (agent, state):
        out = agent.wait_for_claim(timeout, poll) if wait else agent.claim_next()
        if out.ok and out.task is not None and out.epoch is not None:
            state.remember(out.task.id, out.epoch)
            if out.task.writes_branch and project.configured_hub(ctx.settings) is not None:
                worktree = workspace.prepare(ctx.settings, agent, out.task, out.epoch).path
            if out.task.writes_branch:
                feedback = reads.feedback(agent.conn, out.task.id)
    if as_json and out.ok:
        emit_json(
            {
                **out.model_dump(mode="json"),
                "worktree": str(worktree) if worktree else None,
                "feedback": feedback,
            }
        )
        return
    text = None
    if out.ok and out.task is not None:
        t = out.task
        text = (
            f"{t.short_id} [{t.stage}] as {out.role}: {t.title}\n"
            f"  id {t.id} epoch {out.epoch} lease until {t.lease_expires_at:%H:%M:%S}"
        )
        if worktree is not None:
            text += f"\n  worktree {worktree} (branch {t.branch}; `ainarres push` when ready)"
        if t.body:
            text += "\n\n" + t.body
        if feedback:
            text += (
                f"\n\nreturned by {feedback['family']} after review round "
                f"{feedback['round']}: {feedback['reason']}"
            )
            text += "".join(
                f"\n  {a['file']}:{a['line']} ({a['side']}) [{a['severity']}] "
                f"{a['family']}: {a['body']}"
                for a in feedback["annotations"]
            )
    finish(out, as_json, text)


@click.command()
@held_options
def heartbeat(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Extend the lease on a held TASK (do this while working)."""
    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        lambda a, t, e: a.heartbeat(t, e),
        forget=False,
    )


@click.command()
@click.argument("body")
@held_options
def note(
    ctx: Ctx,
    task_ref: str,
    body: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Add a note (BODY) to the log of a held TASK."""
    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        lambda a, t, e: a.note(t, e, body),
        forget=False,
    )


@click.command()
@click.option("--head", "head_commit", help="The commit the work ends at (full hex id).")
@held_options
def done(
    ctx: Ctx,
    task_ref: str,
    head_commit: str | None,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """This one is done: move a held TASK to its next stage.

    In a stage that writes the task branch, the head recorded is the hub's branch tip,
    checked against --head when given: work not pushed is not done.
    """

    def advance(a: Agent, t: UUID, e: int) -> Outcome:
        task = show_task(a.conn, t)
        head = head_commit
        if task.writes_branch and project.configured_hub(ctx.settings) is not None:
            head = workspace.verified_head(ctx.settings, task, head_commit)
        return a.advance(t, e, head)

    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, advance)


@click.command("return")
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
    """Send a held TASK back (e.g. review -> implement) with a reason."""
    held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        lambda a, t, e: a.return_task(t, e, reason),
    )


@click.command()
@held_options
def release(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Give a held TASK back to the queue, unchanged."""
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, lambda a, t, e: a.release(t, e))


@click.command()
@click.option("--reason", required=True, help="What a person must look at.")
@held_options
def block(
    ctx: Ctx,
    task_ref: str,
    reason: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Stop work on a held TASK until a person unblocks it."""
    held_verb(
        ctx, family, agent_name, task_ref, epoch, as_json, lambda a, t, e: a.block(t, e, reason)
    )


@click.command("push")
@held_options
def push_(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Push the worktree of a held TASK to its branch on the hub, signed, with the epoch."""

    def run(a: Agent, t: UUID, e: int) -> Outcome:
        task = show_task(a.conn, t)
        path = workspace.worktree_of(ctx.settings, a.family, a.name, task)
        result = workspace.push_branch(ctx.settings, a.family, path, task, e)
        if not result.ok:
            why = "; ".join(result.remote_lines) or result.stderr.strip()
            raise AinarresError(f"the hub refused {task.branch}: {why}")
        return a.heartbeat(t, e)

    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, run, forget=False)


COMMANDS = [next_, push_, heartbeat, note, done, return_, release, block]
