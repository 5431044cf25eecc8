"""The agent's loop from a shell: next, heartbeat, note, done, return, release, block."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import click

from ainarres import project
from ainarres.agents import workspace
from ainarres.board.reads import show_task
from ainarres.board.verbs import Agent
from ainarres.cli.context import (
    AGENT_OPTION,
    EPOCH_OPTION,
    FAMILY_OPTION,
    JSON_OPTION,
    AgentState,
    Ctx,
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
    with ctx.agent(family, agent_name) as (agent, state):
        out = agent.wait_for_claim(timeout, poll) if wait else agent.claim_next()
        if out.ok and out.task is not None and out.epoch is not None:
            state.remember(out.task.id, out.epoch)
            if out.task.writes_branch and project.configured_hub(ctx.settings) is not None:
                worktree = workspace.prepare(ctx.settings, agent, out.task, out.epoch).path
    if as_json and out.ok:
        emit_json({**out.model_dump(mode="json"), "worktree": str(worktree) if worktree else None})
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
    finish(out, as_json, text)


def _held_verb(
    ctx: Ctx,
    family: str | None,
    agent_name: str | None,
    task_ref: str,
    epoch: int | None,
    as_json: bool,
    act: Callable[[Agent, UUID, int], Outcome],
    forget: bool = True,
) -> None:
    held: list[tuple[UUID, AgentState]] = []

    def run(agent: Agent, state: AgentState) -> Outcome:
        task, ep = ctx.task_epoch(agent.conn, state, task_ref, epoch)
        held.append((task, state))
        return act(agent, task, ep)

    out = ctx.act(family, agent_name, run)
    if forget and held and (out.ok or out.outcome == "lease_lost"):
        task, state = held[0]
        state.forget(task)
    finish(out, as_json)


def _held(fn: Callable[..., None]) -> Callable[..., None]:
    for deco in (
        pass_ctx,
        JSON_OPTION,
        EPOCH_OPTION,
        AGENT_OPTION,
        FAMILY_OPTION,
        click.argument("task_ref", metavar="TASK"),
    ):
        fn = deco(fn)
    return fn


@click.command()
@_held
def heartbeat(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Extend the lease on a held TASK (do this while working)."""
    _held_verb(
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
@_held
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
    _held_verb(
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
@_held
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

    _held_verb(ctx, family, agent_name, task_ref, epoch, as_json, advance)


@click.command("return")
@click.option("--reason", required=True, help="What must change; the implementer sees it.")
@_held
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
    _held_verb(
        ctx,
        family,
        agent_name,
        task_ref,
        epoch,
        as_json,
        lambda a, t, e: a.return_task(t, e, reason),
    )


@click.command()
@_held
def release(
    ctx: Ctx,
    task_ref: str,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Give a held TASK back to the queue, unchanged."""
    _held_verb(ctx, family, agent_name, task_ref, epoch, as_json, lambda a, t, e: a.release(t, e))


@click.command()
@click.option("--reason", required=True, help="What a person must look at.")
@_held
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
    _held_verb(
        ctx, family, agent_name, task_ref, epoch, as_json, lambda a, t, e: a.block(t, e, reason)
    )


@click.command("push")
@_held
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

    _held_verb(ctx, family, agent_name, task_ref, epoch, as_json, run, forget=False)


COMMANDS = [next_, push_, heartbeat, note, done, return_, release, block]
