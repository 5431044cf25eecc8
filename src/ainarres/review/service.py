"""The reviewer's work: read the diff, annotate lines of it, approve or return.

The board is the truth; the hub's git notes (refs/notes/ainarres/review) are a mirror
written after the board has recorded the annotation or verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ainarres import project
from ainarres.board import reads
from ainarres.board.db import Connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput
from ainarres.git import clone as mirrors
from ainarres.git import notes
from ainarres.git.diff import TaskDiff, task_diff
from ainarres.models import Outcome, Task

SEVERITIES = ("blocker", "major", "minor", "nit")
SIDES = ("new", "old")
MAX_BODY = 16384


@dataclass(frozen=True)
class Review:
    """A task's diff with its annotations and the history of its review rounds."""

    task: Task
    diff: TaskDiff
    annotations: list[dict[str, Any]]
    rounds: list[dict[str, Any]]


def mirror(settings: Settings, owner: str) -> Path:
    """A bare mirror of the hub for `owner` (a family/agent, or the operator)."""
    hub = project.require_hub(settings)
    safe = owner.replace("/", "_")
    return mirrors.ensure_bare_mirror(str(hub), settings.state_dir / "mirrors" / f"{safe}.git")


def load(settings: Settings, conn: Connection, task: Task, owner: str) -> Review:
    """The diff merge-base(main, head)..head and everything said about it so far."""
    if task.head_commit is None:
        raise AinarresError(
            f"task {task.short_id} has no pushed head commit yet; nothing to review"
        )
    repo = mirror(settings, owner)
    if mirrors.rev_parse(repo, task.head_commit) is None:
        raise AinarresError(
            f"the head {task.head_commit[:12]} of {task.short_id} is not on the hub"
        )
    return Review(
        task,
        task_diff(repo, "refs/heads/main", task.head_commit),
        reads.annotations_of(conn, task.id),
        reads.reviews(conn, task.id),
    )


def check_target(diff: TaskDiff, file: str, line: int, side: str) -> None:
    """Refuse an annotation whose file or line the diff does not show."""
    if side not in SIDES:
        raise BadInput(f"side must be new or old, not {side!r}")
    changed = diff.file(file)
    if changed is None:
        shown = ", ".join(f.path for f in diff.files) or "none"
        raise BadInput(f"file {file!r} is not in this diff (files: {shown})")
    numbers = {ln.new if side == "new" else ln.old for h in changed.hunks for ln in h.lines}
    if line in numbers - {None}:
        return
    ranges = [
        (h.new_start, h.new_lines) if side == "new" else (h.old_start, h.old_lines)
        for h in changed.hunks
    ]
    spans = ", ".join(f"{start}-{start + count - 1}" for start, count in ranges if count)
    raise BadInput(
        f"line {line} of {file} ({side} side) is not in the diff; lines shown: "
        f"{spans or f'none (the {side} side of this file is empty)'}"
    )


def annotate(
    settings: Settings,
    agent: Agent,
    task: Task,
    epoch: int,
    file: str,
    line: int,
    side: str,
    severity: str,
    body: str,
) -> Outcome:
    """Record an annotation on the held review, after checking it points into the diff."""
    if severity not in SEVERITIES:
        raise BadInput(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if not body.strip():
        raise BadInput("the annotation's body must not be empty")
    if len(body.encode()) > MAX_BODY:
        raise BadInput(f"the body is {len(body.encode())} bytes; the limit is {MAX_BODY}")
    if "\x00" in body:
        raise BadInput("the body contains a NUL byte")
    review = load(settings, agent.conn, task, f"{agent.family}/{agent.name}")
    check_target(review.diff, file, line, side)
    return agent.annotate(task.id, epoch, file, line, side, severity, body)


def approve(settings: Settings, agent: Agent, task: Task, epoch: int) -> Outcome:
    """Approve the head that was reviewed; refused if the hub's branch is elsewhere now."""
    if task.head_commit is None:
        raise AinarresError(f"task {task.short_id} has no head commit to approve")
    tip = mirrors.hub_ref(str(project.require_hub(settings)), f"refs/heads/{task.branch}")
    if tip != task.head_commit:
        raise AinarresError(
            f"the hub's {task.branch} is at {(tip or 'nothing')[:12]}, not at the "
            f"reviewed {task.head_commit[:12]}; return the task for a new round"
        )
    return agent.advance(task.id, epoch, task.head_commit)


def note_line(kind: str, family: str, task: Task, text: str) -> str:
    """One line of the git note mirror: `[round 2] grok+grok-build approve …d25d: text`."""
    return f"[round {task.review_round}] {family} {kind} {task.short_id}: {text}".strip()


def mirror_note(settings: Settings, family: str, owner: str, commit: str, line: str) -> str | None:
    """Append a line to the hub's review note of `commit`; None if it landed, else why not."""
    result = notes.append_and_push(
        mirror(settings, owner),
        str(project.require_hub(settings)),
        commit,
        line,
        project.family_key(settings, family),
    )
    if result.ok:
        return None
    return "; ".join(result.remote_lines) or result.stderr.strip() or "push failed"
