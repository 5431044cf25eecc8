"""Typed rows of the board's named reads (board/queries.sql), one model per query shape.

`board/reads.py` builds them with psycopg's `class_row`, so a column renamed in SQL and not
here fails loudly (extra columns are refused), and strict typing sees every field the
callers read. They are frozen dataclasses, not pydantic models: the live board imports no
validation library (`ainarres board` <= 0.25 s, issue 19), and the database has already typed
each column. `tests/board/test_rows.py` checks every query's columns and their types against
the fields, so a column renamed in SQL, or a numeric where a float is declared, fails there.
Lists of objects that a query builds as jsonb (a family's grants, a workflow's stages) are
made into their rows here, with their timestamps parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ainarres.roles import Role

CanaryVerdict = Literal["caught", "missed", "returned_elsewhere"]


def _when(value: Any) -> datetime | None:
    """A timestamp from a jsonb object (ISO 8601 text) or from a column (a datetime)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _made(items: list[Any], make: Any) -> list[Any]:
    """A jsonb list's objects as rows (rows already made are kept)."""
    return [make(**item) if isinstance(item, dict) else item for item in items]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRow:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class StageCount:
    stage: str
    is_terminal: bool
    tasks: int  # not blocked
    held: int
    blocked: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveTask:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockedTask:
    id: UUID
    short_id: str
    title: str
    stage: str
    blocked_reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    role: Role
    expires_at: datetime | None
    active: bool  # held and not denied

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", _when(self.expires_at))


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyDenial:
    role: Role
    reason: str
    expires_at: datetime | None
    created_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", _when(self.expires_at))
        object.__setattr__(self, "created_at", _when(self.created_at))


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyRow:
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "grants", _made(self.grants, Grant))
        object.__setattr__(self, "denials", _made(self.denials, FamilyDenial))

    def holds(self, role: Role) -> bool:
        """Whether the family holds `role` now (granted, unexpired, not denied)."""
        return any(g.role == role and g.active for g in self.grants)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRound:
    """One verdict: a review round."""

    round: int
    verdict: str
    commit: str | None
    reason: str | None
    family: str
    agent: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSettings:
    stage: str
    lease_seconds: int
    max_attempts: int
    initial: bool
    terminal: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowRow:
    name: str
    cross_review: str
    cross_level: str
    stages: list[StageSettings]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", _made(self.stages, StageSettings))


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationRun:
    """The integrate run the board knows of."""

    pid: int
    host: str
    started_at: datetime
    beat_at: datetime
    family: str
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipped:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Returned:
    short_id: str
    title: str
    from_stage: str | None
    family: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTime:
    stage: str
    visits: int
    avg_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    family: str
    runs: int
    tokens: int | None
    cost_usd: float | None
    seconds: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsandboxed:
    family: str
    agent: str
    last_seen_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackRecord:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    name: str
    role: Role
    metric: str
    threshold: float
    window: str
    denial_base: str
    enabled: bool
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    """An active denial, with when it heals (None: permanent)."""

    family: str
    role: Role
    reason: str
    expires_at: datetime | None
    created_by: str
    created_at: datetime
    heals_in_seconds: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyStanding:
    """One enabled policy against one family holding its role."""

    family: str
    policy: str
    role: Role
    value: float
    threshold: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFacts:
    """The report beyond what shipped."""

    returned: list[Returned]
    blocked: list[BlockedTask]
    stage_times: list[StageTime]
    usage: list[Usage]
    unsandboxed: list[Unsandboxed]


@dataclass(frozen=True, slots=True, kw_only=True)
class Governance:
    track_records: list[TrackRecord]
    policies: list[Policy]
    denials: list[Denial]
    standing: list[PolicyStanding]
    integrators: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CanarySettings:
    """The operator's canary setting and what the service has in hand (ADR 0018)."""

    rate: float
    seed: int
    updated_at: datetime
    held: int
    live: int
    judged: int
    verdicts: int  # recorded, waiting for the service to apply them
    oldest_wait_seconds: float | None  # the longest any of those has waited


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryHold:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryResult:
    """A judged canary: the defect, the verdict's score, the reviewer and the writer."""

    task_id: UUID
    short_id: str
    round: int
    kind: str
    file: str
    line: int
    result: CanaryVerdict
    reviewer: str
    reviewer_maker: str
    writer: str | None
    writer_maker: str | None
    judged_at: datetime
