"""From a claim to a job a tool can do, and from the tool's work back to the board: the
runner's adapter over the claim lifecycle (`ainarres.work`), which the CLI uses too.

prepare: make the job folder (job.json, prompt.txt, feedback.json, and for a review the
diff) and the working folder (the task's worktree caught up with main, or a checkout of
the reviewed head or of main), and say what the sandbox shows of this machine.
finish: for an implementer commit, push and say done; for a reviewer annotate and approve
or return; for a designer create the brief's tasks and say done.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ainarres import project
from ainarres.agents import claim_mcp, sandbox
from ainarres.agents.adapters.base import Job, JobRole
from ainarres.board import reads
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import ensure_private_dir
from ainarres.errors import AinarresError
from ainarres.git import clone as mirrors
from ainarres.git.layout import MAIN_REF
from ainarres.git.worktree import isolated_checkout
from ainarres.models import Feedback, Outcome, Task
from ainarres.processes import failpoint
from ainarres.review import render, service
from ainarres.store import Store
from ainarres.work import design, implement, results
from ainarres.work.implement import Workspace

Log = Callable[[str], None]
PROMPTS = {
    "implementer": (
        "You are the implementer of task {short}: {title}\n\n{body}\n\n{feedback}"
        "Make the change in the current folder (a git worktree of the task's branch), with "
        "tests. Do not commit or push, and do not run git commands that change anything: "
        "ainarres commits and pushes your changes."
    ),
    "reviewer": (
        "You review task {short}: {title}\n\n{body}\n\nThe diff is in "
        "$AINARRES_JOB_DIR/diff.txt (and diff.json); the current folder is a checkout of the "
        "reviewed commit; do not change it. Write $AINARRES_JOB_DIR/result.json as "
        '{{"verdict": "approve" or "return", "reason": "...", "annotations": [{{"file": "...", '
        '"line": N, "side": "new", "severity": "blocker|major|minor|nit", "body": "..."}}]}}.'
    ),
    "designer": (
        "You design brief {short}: {title}\n\n{body}\n\nSplit it into independent tasks an "
        "implementer can each finish alone. The current folder is a checkout of main; do not "
        "change it. Write $AINARRES_JOB_DIR/result.json as "
        '{{"tasks": [{{"title": "...", "body": "...", "depends_on": [indexes of earlier '
        "tasks]}}]}}."
    ),
}

#: said when the tool has the claim's MCP server (`Job.mcp`), after the role's prompt
MCP_PROMPTS = {
    "implementer": (
        "\n\nYour MCP server `ainarres` acts on this task only: `note` adds a note to its "
        "log for the reviewer; call `done` when the work is finished."
    ),
    "reviewer": (
        "\n\nYour MCP server `ainarres` acts on this review only: annotate lines with "
        "`annotate` (file, line of the new side, severity, body), then give the verdict with "
        "`approve` or `return_task` (with the reason); a verdict given there is final and "
        "takes the place of result.json. Write result.json only if those tools fail you."
    ),
}


@dataclass(frozen=True)
class Claimed:
    """A claim the runner is working on."""

    task: Task
    epoch: int
    role: JobRole


@dataclass(frozen=True)
class Prepared:
    """A job, what its tool may see, and (for an implementer) the task's workspace."""

    job: Job
    mounts: sandbox.Mounts
    workspace: Workspace | None = None


def job_dir(settings: Settings, agent: Agent, claim: Claimed) -> Path:
    return Store(settings.state_dir).job(agent.family, agent.name, claim.task.branch, claim.epoch)


def _hidden(settings: Settings) -> tuple[Path, ...]:
    hub = project.configured_hub(settings)
    return (settings.state_dir, *([hub.local] if hub is not None and hub.local else []))


@contextmanager
def prepared(
    settings: Settings,
    agent: Agent,
    claim: Claimed,
    log: Log = lambda _: None,
    extra_readable: Sequence[Path] = (),
    mcp: bool = False,
) -> Iterator[Prepared]:
    """The job for a claim; scratch checkouts are removed afterwards, the job folder kept
    (it holds the tool's output, for a person to read). With `mcp`, the tool speaks MCP:
    the job names the claim's MCP server and the prompt says to use it."""
    folder = job_dir(settings, agent, claim)
    if folder.exists():
        shutil.rmtree(folder)
    ensure_private_dir(folder)
    task = claim.task
    (folder / "job.json").write_text(json.dumps({
        "role": claim.role, "task": task.model_dump(mode="json"), "epoch": claim.epoch,
    }, indent=2))  # fmt: skip
    if claim.role == "implementer":
        ws = implement.open_task(settings, agent, task, claim.epoch, log)
        fb = reads.feedback(agent.conn, task.id)
        (folder / "feedback.json").write_text(
            json.dumps([f.model_dump(mode="json") for f in fb], indent=2)
        )
        mounts = sandbox.Mounts(
            writable=(folder, ws.path),
            hidden=_hidden(settings),
            readable=(ws.layout.common_dir, *extra_readable),
            pinned=(ws.layout.pointer,),
        )
        yield Prepared(_job(folder, claim, ws.path, _feedback_text(fb, ws), mcp), mounts, ws)
        return
    repo = service.mirror(settings, agent.family, agent.name)
    if claim.role == "reviewer":
        review = service.load(settings, agent.conn, task, agent.family, agent.name)
        (folder / "diff.json").write_text(json.dumps(render.as_json(review), indent=2))
        (folder / "diff.txt").write_text(render.as_text(review) + "\n")
        commit = review.diff.head
    else:
        tip = mirrors.rev_parse(repo, MAIN_REF)
        if tip is None:
            raise AinarresError("the hub has no main branch")
        commit = tip
    with isolated_checkout(repo, commit, Store(settings.state_dir).scratch) as checkout:
        mounts = sandbox.Mounts(
            writable=(folder, checkout),
            hidden=_hidden(settings),
            readable=(repo / "objects", *extra_readable),
        )
        yield Prepared(_job(folder, claim, checkout, "", mcp), mounts)


def _job(folder: Path, claim: Claimed, workdir: Path, feedback: str, mcp: bool) -> Job:
    t = claim.task
    prompt = PROMPTS[claim.role].format(short=t.short_id, title=t.title, body=t.body,
                                        feedback=feedback)  # fmt: skip
    served = mcp and claim.role in claim_mcp.SERVED
    if served:
        prompt += MCP_PROMPTS[claim.role]
    (folder / "prompt.txt").write_text(prompt + "\n")
    return Job(role=claim.role, task_id=str(t.id), short_id=t.short_id, title=t.title,
               body=t.body, workdir=workdir, job_dir=folder, prompt=prompt,
               mcp=claim_mcp.relay_command(folder) if served else ())  # fmt: skip


def _feedback_text(items: list[Feedback], ws: Workspace) -> str:
    parts = []
    if items:
        parts.append("This task came back before; what was said, oldest first:\n"
                     + "\n".join(f"- {item.text}" for item in items))  # fmt: skip
    caught = ws.catch_up
    if caught is not None and caught.conflicts:
        parts.append(
            "Main was merged into this branch and these files conflict: "
            + ", ".join(caught.conflicts)
            + ". Resolve every conflict by editing those files (remove the <<<<<<< ======= "
            ">>>>>>> markers, keeping what both sides meant); do not run git."
        )
    return "".join(p + "\n\n" for p in parts)


@dataclass(frozen=True)
class Then:
    """Claim the agent's next task in the transaction that finishes this one (done and
    next, ADR 0012): in these roles, with this lease."""

    roles: Sequence[str]
    lease_seconds: int


@dataclass(frozen=True)
class Finished:
    """What the board said to the job's verbs, and a warning for the log (a review note
    that did not reach the hub) that does not undo it; ``next`` is what the claim of
    ``Then`` came to (None: none was made, the finish was refused or its role has none)."""

    outcome: Outcome
    warning: str | None = None
    next: Outcome | None = None


def finish(settings: Settings, agent: Agent, claim: Claimed, prep: Prepared,
           said: claim_mcp.Said | None = None, then: Then | None = None) -> Finished:  # fmt: skip
    """Turn the tool's work into the verbs of the claim's role: a reviewer's verdict as the
    tool gave it through the claim's MCP endpoint (its annotations are on the board
    already), else from its result file. With ``then``, an implementer's done and a
    reviewer's verdict claim the next task in their own transaction; a designer's tasks
    do not (the runner waits for its next claim as usual)."""
    t, job = claim.task, prep.job
    if claim.role == "implementer":
        assert prep.workspace is not None
        return _finish_implement(settings, agent, claim, prep.workspace, then)
    if claim.role == "reviewer":
        if said is not None and said.verdict is not None:
            (verdict, reason), remarks = said.verdict, []
        else:
            result = results.read(job.job_dir, results.ReviewResult)
            verdict, remarks = result.verdict, [a.remark() for a in result.annotations]
            reason = result.reason or ("approved" if verdict == "approve" else "returned")
        claim_next = None if then is None else _claim_next(agent, then)
        concluded = service.conclude(settings, agent, t, claim.epoch, verdict, reason, remarks,
                                     claim_next)  # fmt: skip
        return Finished(concluded.outcome, concluded.note_problem, concluded.next)
    designed = results.read(job.job_dir, results.DesignResult)
    return Finished(design.create_tasks(agent, t, claim.epoch, designed))


def _claim_next(agent: Agent, then: Then) -> Callable[[], Outcome]:
    return lambda: agent.claim_next(list(then.roles), then.lease_seconds)


def _finish_implement(settings: Settings, agent: Agent, claim: Claimed, ws: Workspace,
                      then: Then | None) -> Finished:  # fmt: skip
    t = claim.task
    implement.commit(agent, t, ws.layout)
    head = implement.push_head(settings, agent, t, claim.epoch, ws.layout)
    failpoint("runner-after-push")
    if not implement.changes_main(settings, agent, head):
        return Finished(agent.block(
            t.id,
            claim.epoch,
            "the implementer's tool made no change to the "
            "task's branch (nothing differs from main); a person should look",
        ))  # fmt: skip
    if then is None:
        return Finished(agent.advance(t.id, claim.epoch, head))
    out = agent.advance_and_claim(t.id, claim.epoch, head, list(then.roles), then.lease_seconds)
    if out.done is None:  # the done was refused: no claim was made
        return Finished(out)
    return Finished(out.done, next=out)
