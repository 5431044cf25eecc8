"""The reviewer's work: read the diff, annotate lines of it, approve or return.

The board is the truth; the hub's git notes (refs/notes/ainarres/review) are a mirror
written after the board has recorded the annotation or verdict. One policy for that mirror,
whoever reviews (a person at the CLI or a tool through the runner): every annotation and
verdict the board accepted becomes one line of the reviewed commit's note, appended once
the transaction that recorded it is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ainarres import project, text
from ainarres.board import reads
from ainarres.board.db import Connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput
from ainarres.git import clone as mirrors
from ainarres.git import notes
from ainarres.git.diff import TaskDiff, task_diff
from ainarres.git.layout import MAIN_REF
from ainarres.models import Annotation, Outcome, Task
from ainarres.rows import ReviewRound
from ainarres.store import Store

SEVERITIES = ("blocker", "major", "minor", "nit")
SIDES = ("new", "old")
MAX_BODY = 16384
MAX_REASON = 4000
Verdict = Literal["approve", "return"]


@dataclass(frozen=True)
class Review:
    """A task's diff with its annotations and the history of its review rounds."""

    task: Task
    diff: TaskDiff
    annotations: list[Annotation]
    rounds: list[ReviewRound]


@dataclass(frozen=True)
class Remark:
    """An annotation as a reviewer gives it: a line of the diff and what is wrong there."""

    file: str
    line: int
    side: str
    severity: str
    body: str

    @property
    def note(self) -> str:
        return f"{self.file}:{self.line} ({self.side}) [{self.severity}] {self.body}"


@dataclass(frozen=True)
class Concluded:
    """A verdict (or annotation) the board recorded, and whether its note landed."""

    outcome: Outcome
    note_problem: str | None = None
    next: Outcome | None = None  # the claim made by the verdict's transaction (`then`)


def mirror(settings: Settings, family: str | None, agent: str | None = None) -> Path:
    """A bare mirror of the hub for reading it (an agent's, or the operator's)."""
    hub = project.require_hub(settings, family)
    return mirrors.ensure_bare_mirror(str(hub), Store(settings.state_dir).hub_copy(family, agent))


def load(
    settings: Settings,
    conn: Connection,
    task: Task,
    family: str | None,
    agent: str | None = None,
    shipped: bool = False,
) -> Review:
    """The diff merge-base(main, head)..head and everything said about it so far. With
    `shipped`, a task whose commits are all in main already shows them from its base."""
    if task.head_commit is None:
        raise AinarresError(
            f"task {task.short_id} has no pushed head commit yet; nothing to review"
        )
    repo = mirror(settings, family, agent)
    if mirrors.rev_parse(repo, task.head_commit) is None:
        raise AinarresError(
            f"the head {task.head_commit[:12]} of {task.short_id} is not on the hub"
        )
    diff = task_diff(repo, MAIN_REF, task.head_commit)
    if shipped and not diff.files and task.base_commit:
        diff = task_diff(repo, task.base_commit, task.head_commit)
    return Review(
        task,
        diff,
        reads.annotations_of(conn, task.id),
        reads.reviews(conn, task.id),
    )


def check_target(diff: TaskDiff, file: str, line: int, side: str) -> None:
    """Refuse an annotation whose file or line the diff does not show."""
    if side not in SIDES:
        raise BadInput(f"side must be new or old, not {text.clip(side)!r}")
    changed = diff.file(file)
    if changed is None:
        shown = ", ".join(f.path for f in diff.files) or "none"
        raise BadInput(f"file {text.clip(file)!r} is not in this diff (files: {shown})")
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


def check_remark(diff: TaskDiff, remark: Remark) -> None:
    """Everything the board would refuse about an annotation, refused first, in words."""
    if remark.severity not in SEVERITIES:
        raise BadInput(
            f"severity must be one of {', '.join(SEVERITIES)}, not {text.clip(remark.severity)!r}"
        )
    text.check("the annotation's body", remark.body, max_bytes=MAX_BODY, single_line=False)
    check_target(diff, remark.file, remark.line, remark.side)


def annotate(settings: Settings, agent: Agent, task: Task, epoch: int, remark: Remark) -> Concluded:
    """Record an annotation on the held review (after checking it points into the diff),
    and mirror it."""
    review = load(settings, agent.conn, task, agent.family, agent.name)
    check_remark(review.diff, remark)
    out = agent.annotate(task.id, epoch, remark.file, remark.line, remark.side,
                         remark.severity, remark.body)  # fmt: skip
    return _mirrored(settings, agent, out, task, [("annotate", remark.note)])


def conclude(
    settings: Settings,
    agent: Agent,
    task: Task,
    epoch: int,
    verdict: Verdict,
    reason: str,
    remarks: Sequence[Remark] = (),
    then: Callable[[], Outcome] | None = None,
) -> Concluded:
    """Annotations and the verdict in one transaction (a refused one leaves none of them),
    then one note on the hub. An approval holds only for the head that was reviewed.
    ``then`` (a claim of the agent's next task) runs in the same transaction once the
    verdict is taken; its outcome, whatever it is, does not undo the verdict."""
    if remarks:
        review = load(settings, agent.conn, task, agent.family, agent.name)
        for remark in remarks:
            check_remark(review.diff, remark)
    if verdict == "return" or reason:
        text.check("reason", reason, max_bytes=MAX_REASON, single_line=False)

    def act() -> Outcome:
        for remark in remarks:
            out = agent.annotate(task.id, epoch, remark.file, remark.line, remark.side,
                                 remark.severity, remark.body)  # fmt: skip
            if not out.ok:
                return out
        if verdict == "approve":
            out = approve(settings, agent, task, epoch)
        else:
            out = agent.return_task(task.id, epoch, reason, "review")
        if out.ok and then is not None:
            claimed.append(then())
        return out

    claimed: list[Outcome] = []
    out = agent.atomically(act)
    lines = [("annotate", r.note) for r in remarks] + [(verdict, reason)]
    concluded = _mirrored(settings, agent, out, task, lines)
    return replace(concluded, next=claimed[0]) if out.ok and claimed else concluded


def send_back(settings: Settings, agent: Agent, task: Task, epoch: int, reason: str) -> Concluded:
    """Return a held task; from a review stage this is the reviewer's return (and mirrored)."""
    if reads.reviews_branch(agent.conn, task.id):
        return conclude(settings, agent, task, epoch, "return", reason)
    text.check("reason", reason, max_bytes=MAX_REASON, single_line=False)
    return Concluded(agent.return_task(task.id, epoch, reason))


def approve(settings: Settings, agent: Agent, task: Task, epoch: int) -> Outcome:
    """Approve the head that was reviewed; refused if the hub's branch is elsewhere now."""
    if task.head_commit is None:
        raise AinarresError(f"task {task.short_id} has no head commit to approve")
    tip = mirrors.hub_ref(str(project.require_hub(settings, agent.family)),
                          f"refs/heads/{task.branch}")  # fmt: skip
    if tip != task.head_commit:
        raise AinarresError(
            f"the hub's {task.branch} is at {(tip or 'nothing')[:12]}, not at the "
            f"reviewed {task.head_commit[:12]}; return the task for a new round"
        )
    return agent.advance(task.id, epoch, task.head_commit)


def note_line(kind: str, family: str, task: Task, words: str) -> str:
    """One line of the git note mirror: `[round 2] grok+grok-build approve …d25d: text`."""
    flat = " ".join(words.split())
    return f"[round {task.review_round}] {family} {kind} {task.short_id}: {flat}".strip()


def _mirrored(
    settings: Settings,
    agent: Agent,
    out: Outcome,
    task: Task,
    lines: Sequence[tuple[str, str]],
) -> Concluded:
    """The note goes on the head that was reviewed, under the round it was reviewed in (the
    task as claimed: after a verdict the board's row may say otherwise)."""
    if not out.ok or task.head_commit is None:
        return Concluded(out)
    body = "\n".join(note_line(kind, agent.family, task, words) for kind, words in lines)
    result = notes.append_and_push(
        mirror(settings, agent.family, agent.name),
        str(project.require_hub(settings, agent.family)),
        task.head_commit,
        body,
        project.family_key(settings, agent.family),
    )
    if result.ok:
        return Concluded(out)
    why = "; ".join(result.remote_lines) or result.stderr.strip() or "push failed"
    return Concluded(out, f"on the board, but the git note did not land: {why}")
