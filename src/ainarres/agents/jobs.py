"""From a claim to a job a tool can do, and from the tool's work back to the board.

prepare: make the job folder (job.json, prompt.txt, and for a review the diff) and the
working folder (the task's worktree, or a checkout of the reviewed head or of main).
finish: for an implementer commit and push the worktree and say done; for a reviewer
annotate and approve or return; for a designer create the brief's tasks and say done.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from ainarres.agents import workspace
from ainarres.agents.adapters.base import Job, JobRole
from ainarres.board import reads
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import ensure_private_dir
from ainarres.errors import AinarresError, BadInput
from ainarres.git import clone as mirrors
from ainarres.git.worktree import commit_all, scratch_worktree
from ainarres.models import Outcome, Task
from ainarres.review import render, service

PROMPTS = {
    "implementer": (
        "You are the implementer of task {short}: {title}\n\n{body}\n\n{feedback}"
        "Make the change in the current folder (a git worktree of the task's branch), with "
        "tests. Do not commit or push: ainarres commits and pushes your changes."
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


@dataclass(frozen=True)
class Claimed:
    """A claim the runner is working on."""

    task: Task
    epoch: int
    role: JobRole


def job_dir(settings: Settings, agent: Agent, claim: Claimed) -> Path:
    return (settings.state_dir / "jobs" / agent.family.replace("/", "_") / agent.name
            / f"{claim.task.branch.replace('/', '_')}-e{claim.epoch}")  # fmt: skip


@contextmanager
def prepared(settings: Settings, agent: Agent, claim: Claimed) -> Iterator[Job]:
    """The job for a claim; scratch checkouts are removed afterwards, the job folder kept
    (it holds the tool's output, for a person to read)."""
    folder = job_dir(settings, agent, claim)
    if folder.exists():
        shutil.rmtree(folder)
    ensure_private_dir(folder)
    task = claim.task
    feedback = ""
    (folder / "job.json").write_text(json.dumps({
        "role": claim.role, "task": task.model_dump(mode="json"), "epoch": claim.epoch,
    }, indent=2))  # fmt: skip
    if claim.role == "implementer":
        worktree = workspace.prepare(settings, agent, task, claim.epoch).path
        fb = reads.feedback(agent.conn, task.id)
        if fb:
            feedback = _feedback_text(fb)
            (folder / "feedback.json").write_text(json.dumps(fb, indent=2, default=str))
        yield _job(folder, claim, worktree, feedback)
        return
    owner = f"{agent.family}/{agent.name}"
    repo = service.mirror(settings, owner)
    if claim.role == "reviewer":
        review = service.load(settings, agent.conn, task, owner)
        (folder / "diff.json").write_text(json.dumps(render.as_json(review), indent=2))
        (folder / "diff.txt").write_text(render.as_text(review) + "\n")
        commit = review.diff.head
    else:
        tip = mirrors.rev_parse(repo, "refs/heads/main")
        if tip is None:
            raise AinarresError("the hub has no main branch")
        commit = tip
    with scratch_worktree(repo, commit) as checkout:
        yield _job(folder, claim, checkout, feedback)


def _job(folder: Path, claim: Claimed, workdir: Path, feedback: str) -> Job:
    t = claim.task
    prompt = PROMPTS[claim.role].format(short=t.short_id, title=t.title, body=t.body,
                                        feedback=feedback)  # fmt: skip
    (folder / "prompt.txt").write_text(prompt + "\n")
    return Job(role=claim.role, task_id=str(t.id), short_id=t.short_id, title=t.title,
               body=t.body, workdir=workdir, job_dir=folder, prompt=prompt)  # fmt: skip


def _feedback_text(fb: dict[str, Any]) -> str:
    lines = [f"The last review (round {fb['round']}, {fb['family']}) returned it: {fb['reason']}"]
    lines += [f"- {a['file']}:{a['line']} ({a['side']}) [{a['severity']}] {a['body']}"
              for a in fb["annotations"]]  # fmt: skip
    return "\n".join(lines) + "\n\n"


def read_result(job: Job) -> dict[str, Any]:
    """The tool's result.json, or a BadInput saying what is wrong with it."""
    path = job.job_dir / "result.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"the tool wrote no {path.name}") from None
    except ValueError as exc:
        raise BadInput(f"{path.name} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path.name} must hold a JSON object")
    return data


def finish(settings: Settings, agent: Agent, claim: Claimed, job: Job) -> Outcome:
    """Turn the tool's work into the verbs of the claim's role."""
    if claim.role == "implementer":
        return _finish_implement(settings, agent, claim, job)
    if claim.role == "reviewer":
        return _finish_review(settings, agent, claim, job)
    return _finish_design(agent, claim, job)


def _finish_implement(settings: Settings, agent: Agent, claim: Claimed, job: Job) -> Outcome:
    t = claim.task
    made = commit_all(job.workdir, f"{t.title}\n\nAinarres-Task: {t.id}\n",
                      (agent.family, f"{agent.name}@ainarres"))  # fmt: skip
    if made is None and t.head_commit is None:
        return agent.block(t.id, claim.epoch, "the implementer's tool changed nothing")
    pushed = workspace.push_branch(settings, agent.family, job.workdir, t, claim.epoch)
    if not pushed.ok:
        why = "; ".join(pushed.remote_lines) or pushed.stderr.strip()
        raise AinarresError(f"the hub refused {t.branch}: {why}")
    head = workspace.verified_head(settings, t, None)
    return agent.advance(t.id, claim.epoch, head)


def _finish_review(settings: Settings, agent: Agent, claim: Claimed, job: Job) -> Outcome:
    t = claim.task
    result = read_result(job)
    verdict = result.get("verdict")
    if verdict not in ("approve", "return"):
        raise BadInput("result.json: verdict must be approve or return")
    review = service.load(settings, agent.conn, t, f"{agent.family}/{agent.name}")
    notes = result.get("annotations") or []
    if not isinstance(notes, list):
        raise BadInput("result.json: annotations must be a list")
    for note in notes:
        try:
            file, line = str(note["file"]), int(note["line"])
            side, severity = str(note.get("side", "new")), str(note.get("severity", "minor"))
            service.check_target(review.diff, file, line, side)
            out = agent.annotate(t.id, claim.epoch, file, line, side, severity, str(note["body"]))
        except (KeyError, TypeError, ValueError, BadInput) as exc:
            out = agent.note(t.id, claim.epoch, f"annotation dropped ({exc}): {note!r}"[:4000])
        if not out.ok:
            return out
    if verdict == "approve":
        return service.approve(settings, agent, t, claim.epoch)
    reason = str(result.get("reason") or "returned by the reviewer")
    return agent.return_task(t.id, claim.epoch, reason)


def _finish_design(agent: Agent, claim: Claimed, job: Job) -> Outcome:
    t = claim.task
    tasks = read_result(job).get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise BadInput("result.json: tasks must be a non-empty list")
    made: list[UUID] = []
    # All the brief's tasks and its done in one transaction: a crash or a refused task
    # leaves no half-designed brief behind.
    with agent.conn.transaction():
        for spec in tasks:
            if not isinstance(spec, dict):
                raise BadInput("result.json: each task must be an object with a title")
            deps = [made[i] for i in spec.get("depends_on", []) if 0 <= int(i) < len(made)]
            out = agent.create_task(str(spec.get("title", "")), str(spec.get("body", "")),
                                    depends_on=deps, parent=t.id)  # fmt: skip
            if not out.ok or out.task is None:
                raise BadInput(f"a designed task was refused: {out.message}")
            made.append(out.task.id)
        done = agent.advance(t.id, claim.epoch)
        if not done.ok:
            raise AinarresError(f"the brief could not be marked designed: {done.message}")
    return done
