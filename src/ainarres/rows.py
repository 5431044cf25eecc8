"""Typed rows of the board's named reads (board/queries.sql), one model per query shape.

`board/reads.py` builds them with psycopg's `class_row`, so a column renamed in SQL and not
here fails loudly (extra columns are refused), and strict typing sees every field the
callers read. They are frozen pydantic models, as `--json` writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ainarres.models import Role


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskRow(Row):
    """A line of `task list`."""

    id: UUID
    short_id: str
    title: str
    stage: str
    priority: int
    blocked: bool
    blocked_reason: str | None
    holder_family: str | None
    holder_agent: str | None
    lease_expires_at: datetime | None
    claim_epoch: int
    attempts: int
    created_at: datetime


class StageCount(Row):
    stage: str
    is_terminal: bool
    tasks: int  # not blocked
    held: int
    blocked: int


class ActiveTask(Row):
    """A task being worked now, as the live board shows it."""

    id: UUID
    short_id: str
    title: str
    stage: str
    label: str | None
    family: str
    agent: str
    epoch: int
    sandboxed: bool | None
    age_seconds: float | None
    lease_left_seconds: float | None


class BlockedTask(Row):
    id: UUID
    short_id: str
    title: str
    stage: str
    blocked_reason: str | None


class Grant(Row):
    role: Role
    expires_at: datetime | None
    active: bool  # held and not denied


class FamilyDenial(Row):
    role: Role
    reason: str
    expires_at: datetime | None
    created_at: datetime


class FamilyRow(Row):
    name: str
    tool: str
    model: str
    maker: str
    retired_at: datetime | None
    db_role: str
    created_at: datetime
    grants: list[Grant]
    denials: list[FamilyDenial]  # active ones
    agents: int

    def holds(self, role: Role) -> bool:
        """Whether the family holds `role` now (granted, unexpired, not denied)."""
        return any(g.role == role and g.active for g in self.grants)


class ReviewRound(Row):
    """One verdict: a review round."""

    round: int
    verdict: str
    commit: str | None
    reason: str | None
    family: str
    agent: str
    created_at: datetime


class StageSettings(Row):
    stage: str
    lease_seconds: int
    max_attempts: int
    initial: bool
    terminal: bool


class WorkflowRow(Row):
    name: str
    cross_review: str
    cross_level: str
    stages: list[StageSettings]


class IntegrationRun(Row):
    """The integrate run the board knows of."""

    pid: int
    host: str
    started_at: datetime
    beat_at: datetime
    family: str
    agent: str


class Shipped(Row):
    """A shipped task and who did what: family and maker of each step."""

    id: UUID
    short_id: str
    title: str
    implemented: str | None
    implemented_maker: str | None
    reviewed: str | None
    reviewed_maker: str | None
    integrated: str | None
    integrated_maker: str | None
    rounds: int
    shipped_at: datetime

    @property
    def cross_family(self) -> bool:
        return _differ(self.reviewed, self.implemented)

    @property
    def cross_maker(self) -> bool:
        return _differ(self.reviewed_maker, self.implemented_maker)


def _differ(one: str | None, other: str | None) -> bool:
    return bool(one and other and one != other)


class Returned(Row):
    short_id: str
    title: str
    from_stage: str | None
    family: str | None
    reason: str | None
    at: datetime


class StageTime(Row):
    stage: str
    visits: int
    avg_seconds: float | None
    max_seconds: float | None


class Usage(Row):
    family: str
    runs: int
    tokens: int | None
    cost_usd: float | None
    seconds: float | None


class Unsandboxed(Row):
    family: str
    agent: str
    last_seen_at: datetime | None


class TrackRecord(Row):
    family: str
    claimed: int
    shipped: int
    returned_as_producer: int
    abandoned: int
    reviews_done: int
    approvals_failed_checks: int
    returns_overturned: int
    seconds_worked: float
    tokens: int | None


class Policy(Row):
    name: str
    role: Role
    metric: str
    threshold: float
    window: str
    denial_base: str
    enabled: bool
    description: str


class Denial(Row):
    """An active denial, with when it heals (None: permanent)."""

    family: str
    role: Role
    reason: str
    expires_at: datetime | None
    created_by: str
    created_at: datetime
    heals_in_seconds: float | None


class PolicyStanding(Row):
    """One enabled policy against one family holding its role."""

    family: str
    policy: str
    role: Role
    value: float
    threshold: float


class ReportFacts(Row):
    """The report beyond what shipped."""

    returned: list[Returned]
    blocked: list[BlockedTask]
    stage_times: list[StageTime]
    usage: list[Usage]
    unsandboxed: list[Unsandboxed]


class Governance(Row):
    track_records: list[TrackRecord]
    policies: list[Policy]
    denials: list[Denial]
    standing: list[PolicyStanding]
    integrators: list[str]


class CanarySettings(Row):
    """The operator's canary setting and what the service has in hand (ADR 0018)."""

    rate: float
    seed: int
    updated_at: datetime
    held: int
    live: int
    judged: int
    verdicts: int  # recorded, waiting for the service to apply them
    oldest_wait_seconds: float | None  # the longest any of those has waited


class CanaryHold(Row):
    """A review round no reviewer may claim until the canary service has been by."""

    task_id: UUID
    short_id: str
    seq: int
    round: int
    restore: bool
    branch: str
    head_commit: str | None
    review_round: int
    real_head: str | None
    seeded_head: str | None
    state: str | None
    after_canary: bool  # the round before this one was seeded


class CanaryResult(Row):
    """A judged canary: the defect, the verdict's score, the reviewer and the writer."""

    task_id: UUID
    short_id: str
    round: int
    kind: str
    file: str
    line: int
    result: Literal["caught", "missed", "returned_elsewhere"]
    reviewer: str
    reviewer_maker: str
    writer: str | None
    writer_maker: str | None
    judged_at: datetime
