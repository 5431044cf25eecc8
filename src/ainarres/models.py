"""Frozen models of what the board returns: outcomes, tasks, events. Also the --json shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ainarres.roles import Role

OutcomeKind = Literal[
    "ok",
    "empty",
    "lease_lost",
    "not_allowed",
    "illegal_transition",
    "blocked",
    "not_found",
    "invalid",
]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Task(Frozen):
    id: UUID
    short_id: str
    title: str
    body: str
    workflow: str
    stage: str
    writes_branch: bool = False
    priority: int
    parent_id: UUID | None
    open: bool
    holder_agent: UUID | None
    holder_family: str | None
    lease_expires_at: datetime | None
    claim_epoch: int
    attempts: int
    blocked: bool
    blocked_reason: str | None
    branch: str
    base_commit: str | None
    head_commit: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    stage_entered_at: datetime
    depends_on: list[UUID]
    review_round: int = 0


class AgentRef(Frozen):
    """An agent as `agent_start` returns it."""

    id: UUID
    name: str
    family: str


class FamilyRef(Frozen):
    """A family as the verbs that add, rotate or retire one return it."""

    db_role: str
    name: str | None = None
    maker: str | None = None


class HeldClaim(Frozen):
    """A claim `resume` handed back to a restarted agent, at a new epoch."""

    task: Task
    epoch: int
    role: Role | None


class Outcome(Frozen):
    """The structured result of a verb; anything but `ok` changed nothing."""

    outcome: OutcomeKind
    message: str
    task: Task | None = None
    epoch: int | None = None
    role: Role | None = None
    agent: AgentRef | None = None
    family: FamilyRef | None = None
    held: list[HeldClaim] | None = None
    done: Outcome | None = None  # advance_and_claim: the advance's own outcome

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Event(Frozen):
    id: int
    at: datetime
    kind: str
    task_id: UUID | None
    short_id: str | None
    family: str | None
    agent: str | None
    actor: str
    from_stage: str | None
    to_stage: str | None
    epoch: int | None
    data: dict[str, Any]


FeedbackSource = Literal[
    "review", "checks", "conflict", "returned", "person", "blocked", "lease_expiry", "note"
]


class Annotation(Frozen):
    id: int
    round: int
    commit: str
    file: str
    line: int
    side: str
    severity: str
    body: str
    family: str
    agent: str
    created_at: datetime


class Feedback(Frozen):
    """One thing that came back to a task, for its next claimer: where from, why in full."""

    source: FeedbackSource
    reason: str
    detail: str | None = None
    family: str | None = None
    agent: str | None = None
    at: datetime
    round: int | None = None
    annotations: list[Annotation] = []

    @property
    def text(self) -> str:
        """The item as the implementer's prompt and `next` show it."""
        who = f" by {self.family}" if self.family else ""
        head = {
            "review": f"returned by review{who} (round {self.round})",
            "checks": f"returned{who}: the checks failed on the merge with main",
            "conflict": f"returned{who}: it conflicts with main",
            "returned": f"returned{who}",
            "person": "a person unblocked it",
            "blocked": f"blocked{who}",
            "lease_expiry": "an earlier claim ran out",
            "note": f"note{who}",
        }[self.source]
        lines = [f"{head}: {self.reason}"]
        if self.detail:
            lines.append(self.detail)
        lines += [f"  {a.file}:{a.line} ({a.side}) [{a.severity}] {a.family}: {a.body}"
                  for a in self.annotations]  # fmt: skip
        return "\n".join(lines)
