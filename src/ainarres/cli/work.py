"""The agent's loop from a shell: next, push, heartbeat, note, done, return, release, block.

Thin adapters over the claim lifecycle (`ainarres.work`), which the runner calls too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import click

from ainarres import text
from ainarres.cli.context import (
    AGENT_OPTION,
    FAMILY_OPTION,
    JSON_OPTION,
    Ctx,
    Said,
    held_options,
    held_verb,
    pass_ctx,
)
from ainarres.cli.render import emit_json, finish, safe
from ainarres.errors import BadInput

# The board, the hub and the services are imported by the commands that use them: a
# command's --help pays for none of them.
if TYPE_CHECKING:
    from ainarres.board.verbs import Agent
    from ainarres.cli.context import AgentState
    from ainarres.models import Feedback, Outcome
    from ainarres.work.implement import Workspace


def _prepare(ctx: Ctx, agent: Agent, out: Outcome) -> Workspace | None:
    from ainarres.work import claims

    return claims.prepare(ctx.settings, agent, out, lambda line: click.echo(safe(line), err=True))


def _feedback_lines(items: list[Feedback]) -> str:
    if not items:
        return ""
    return "\n\nwhat came back (oldest first):\n" + "\n".join(
        "- " + safe(item.text).replace("\n", "\n  ") for item in items
    )


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
    (the CLI remembers it for this agent). For an implementer it prepares the task's
    worktree, merges main into it when main has moved on (conflicts are left as
    markers to resolve), and shows everything that came back to the task: review
    verdicts with annotations, failed checks, conflicts, a person's notes.
    Exits 5 when there is nothing to do.
    """
    with ctx.agent(family, agent_name) as (agent, state):
        out = agent.wait_for_claim(timeout, poll) if wait else agent.claim_next()
        ws, feedback = _take(ctx, agent, state, out)
    _show_claim(out, ws, feedback, as_json)


def _take(
    ctx: Ctx, agent: Agent, state: AgentState, out: Outcome
) -> tuple[Workspace | None, list[Feedback]]:
    """For a claim just made: its worktree (an implementer's), the epoch remembered for the
    agent, and what came back to the task before."""
    from ainarres.board import reads

    if not out.ok or out.task is None or out.epoch is None:
        return None, []
    ws = _prepare(ctx, agent, out)
    state.remember(out.task.id, out.epoch)
    return ws, reads.feedback(agent.conn, out.task.id) if out.task.writes_branch else []


def _show_claim(out: Outcome, ws: Workspace | None, feedback: list[Feedback],
                as_json: bool, before: str = "") -> None:  # fmt: skip
    """Print a claim as `next` does (``before``: a line about what came first) and exit
    with its code (5: nothing to do)."""
    caught = ws.catch_up if ws is not None else None
    if as_json and out.ok:
        emit_json({
            **out.model_dump(mode="json"),
            "worktree": str(ws.path) if ws else None,
            "feedback": [f.model_dump(mode="json") for f in feedback],
            "catch_up": None if caught is None else
            {"main": caught.main, "conflicts": list(caught.conflicts)},
        })  # fmt: skip
        return
    shown = None
    if out.ok and out.task is not None:
        t = out.task
        shown = (
            f"{t.short_id} [{t.stage}] as {out.role}: {t.title}\n"
            f"  id {t.id} epoch {out.epoch} lease until {t.lease_expires_at:%H:%M:%S}"
        )
        if ws is not None:
            shown += f"\n  worktree {ws.path} (branch {t.branch}; `ainarres push` when ready)"
        if caught is not None:
            shown += f"\n  {caught.summary}"
        if t.body:
            shown += "\n\n" + t.body
        shown += _feedback_lines(feedback)
    if before and not as_json:
        click.echo(before)
    finish(out, as_json, shown)


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
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json,
              lambda a, t, e, _: a.heartbeat(t, e), forget=False)  # fmt: skip


@click.command()
@held_options
@click.argument("body")
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
    text.check("note", body, max_bytes=16384, single_line=False)
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json,
              lambda a, t, e, _: a.note(t, e, body), forget=False)  # fmt: skip


@click.command()
@click.option("--head", "head_commit", help="The commit the work ends at (full hex id).")
@click.option(
    "--empty",
    "empty_reason",
    metavar="REASON",
    help="Say why the task needs no change (otherwise an empty change is refused).",
)
@click.option(
    "--next",
    "then_next",
    is_flag=True,
    help="And claim the next task in the same transaction, printed as `next` prints it "
    "(exit 5 when there is none; the done still stands).",
)
@held_options
def done(
    ctx: Ctx,
    task_ref: str,
    head_commit: str | None,
    empty_reason: str | None,
    then_next: bool,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """This one is done: move a held TASK to its next stage.

    In a stage that writes the task branch, the head recorded is the hub's branch tip,
    checked against --head when given: work not pushed is not done. A branch that
    changes nothing against main is refused unless --empty says why. With --next, the
    next task is claimed by the same transaction that records this one done.
    """
    from ainarres import project
    from ainarres.board.reads import show_task
    from ainarres.work import implement

    if empty_reason is not None:
        text.check("--empty", empty_reason, max_bytes=2000, single_line=False)

    def advance(a: Agent, t: UUID, e: int, _: Said | None = None) -> Outcome:
        task = show_task(a.conn, t)
        if task.writes_branch and project.configured_hub(ctx.settings) is not None:
            return implement.done(ctx.settings, a, task, e, head_commit, empty_reason,
                                  then_claim=then_next)  # fmt: skip
        return a.advance_and_claim(t, e, head_commit) if then_next else a.advance(t, e, head_commit)

    if not then_next:
        held_verb(ctx, family, agent_name, task_ref, epoch, as_json, advance)
        return
    both: list[Outcome] = []

    def done_and_claim(agent: Agent, state: AgentState) -> Outcome:
        task, ep = ctx.task_epoch(agent.conn, state, task_ref, epoch)
        out = advance(agent, task, ep)
        both.append(out)
        finished = out.done or out  # a refused done comes back alone
        if finished.ok or finished.outcome == "lease_lost":
            state.forget(task)
        return finished  # the transaction stands or falls with the done, not the claim

    finished = ctx.act(family, agent_name, done_and_claim)
    if not finished.ok:
        finish(finished, as_json)
    with ctx.agent(family, agent_name) as (agent, state):
        ws, feedback = _take(ctx, agent, state, both[0])
    _show_claim(both[0], ws, feedback, as_json, before=f"done: {safe(finished.message)}")


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
    """Send a held TASK back (e.g. review -> implement) with a reason.

    From a review this is the same as `ainarres review return` (the verdict is mirrored
    to the hub's review notes).
    """
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json,
              lambda a, t, e, said: _send_back(ctx, a, t, e, reason, said))  # fmt: skip


def _send_back(ctx: Ctx, a: Agent, t: UUID, e: int, reason: str, said: Said) -> Outcome:
    from ainarres.board.reads import show_task
    from ainarres.review import service

    done = service.send_back(ctx.settings, a, show_task(a.conn, t), e, reason)
    said.warning = done.note_problem
    return done.outcome


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
    """Give a held TASK back to the queue, unchanged (what was pushed stays on its branch)."""
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json,
              lambda a, t, e, _: a.release(t, e))  # fmt: skip


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
    text.check("reason", reason, max_bytes=4000, single_line=False)
    held_verb(ctx, family, agent_name, task_ref, epoch, as_json,
              lambda a, t, e, _: a.block(t, e, reason))  # fmt: skip


@click.command("push")
@click.option("--commit", "make_commit", is_flag=True,
              help="Commit the worktree's changes first (with -m).")  # fmt: skip
@click.option("-m", "--message", help="With --commit: the commit message's first line.")
@held_options
def push_(
    ctx: Ctx,
    task_ref: str,
    make_commit: bool,
    message: str | None,
    family: str | None,
    agent_name: str | None,
    epoch: int | None,
    as_json: bool,
) -> None:
    """Push the worktree of a held TASK to its branch on the hub, signed, with the epoch.

    Refused while the worktree has uncommitted changes (commit them, or pass --commit
    -m MSG). Prints the commit the hub's branch now holds.
    """
    from ainarres.board.reads import show_task
    from ainarres.work import implement

    if message is not None:
        if not make_commit:
            raise BadInput("-m goes with --commit")
        text.check("-m", message, max_bytes=200, single_line=True)

    def run(a: Agent, t: UUID, e: int, said: Said) -> Outcome:
        task = show_task(a.conn, t)
        layout = implement.find(ctx.settings, a, task)
        dirty = implement.uncommitted(layout)
        if dirty and not make_commit:
            raise BadInput(
                f"{len(dirty)} uncommitted change(s) in {layout.worktree} (first: "
                f"{safe(dirty[0].strip())}); commit them, or pass --commit -m MESSAGE"
            )
        if make_commit:
            implement.commit(a, task, layout, message)
        head = implement.push_head(ctx.settings, a, task, e, layout)
        said.text = f"pushed {head} to {task.branch}"
        said.fields = {"commit": head, "branch": task.branch}
        return a.heartbeat(t, e)

    held_verb(ctx, family, agent_name, task_ref, epoch, as_json, run, forget=False)


COMMANDS = [next_, push_, heartbeat, note, done, return_, release, block]
