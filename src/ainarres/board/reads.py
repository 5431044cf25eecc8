"""What anyone on the board may read: tasks, the live board, the log, families."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from psycopg.rows import class_row

from ainarres.board.db import Connection
from ainarres.board.queries import q
from ainarres.errors import AinarresError, BadInput
from ainarres.rows import (
    ActiveTask,
    BlockedTask,
    CanaryHold,
    CanaryResult,
    CanarySettings,
    Denial,
    FamilyRow,
    Governance,
    IntegrationRun,
    Policy,
    PolicyStanding,
    ReportFacts,
    Returned,
    ReviewRound,
    Shipped,
    StageCount,
    StageTime,
    TaskRow,
    TrackRecord,
    Unsandboxed,
    Usage,
    WorkflowRow,
)
from ainarres.text import clip

if TYPE_CHECKING:
    from ainarres.models import Annotation, Event, Feedback, Task

# The rows are dataclasses; the reads that parse a task, an event or feedback from jsonb
# import the pydantic models when they run, so `ainarres board` never imports pydantic.

M = TypeVar("M")


def _rows(conn: Connection, name: str, model: type[M], params: Mapping[str, Any] | None = None
          ) -> list[M]:  # fmt: skip
    """The named query's rows as `model`s (a column the model lacks is an error)."""
    with conn.cursor(row_factory=class_row(model)) as cur:
        return cur.execute(q(name), params).fetchall()


_SUFFIX = re.compile(r"^(?:…|\.\.\.)?([0-9a-fA-F]{4,32})$")


def resolve_task(conn: Connection, ref: str) -> UUID:
    """A task from its full uuid or from the end of it as the board shows it (…d25d, d25d)."""
    ref = ref.strip()
    try:
        full = UUID(ref)
    except ValueError:
        full = None
    if full is not None:
        if conn.execute(q("task_exists"), {"id": full}).fetchone() is None:
            raise AinarresError(f"no task {ref}; see `ainarres task list`")
        return full
    match = _SUFFIX.match(ref)
    if not match:
        raise BadInput(
            f"malformed task id {clip(ref)!r}: give the full uuid or at least its last 4 hex "
            "digits as the board shows them (…d25d)"
        )
    rev = match.group(1).lower()[::-1]
    rows = conn.execute(q("find_task_by_suffix"), {"rev_prefix": rev + "%"}).fetchall()
    if not rows:
        raise AinarresError(f"no task ending in {match.group(1)}; see `ainarres task list`")
    if len(rows) > 1:
        raise BadInput(f"task id …{match.group(1)} is ambiguous: give more digits or the full uuid")
    return UUID(str(rows[0]["id"]))


def show_task(conn: Connection, task: UUID) -> Task:
    from ainarres.models import Task

    row = conn.execute(q("task_show"), {"id": task}).fetchone()
    if row is None:
        raise AinarresError(f"no task {task}")
    return Task.model_validate(row["task"])


def reviews_branch(conn: Connection, task: UUID) -> bool:
    """Whether the task's current stage is a review of its branch."""
    row = conn.execute(q("task_reviews_branch"), {"id": task}).fetchone()
    return bool(row and row["reviews_branch"])


def stage_names(conn: Connection) -> list[str]:
    return [r["name"] for r in conn.execute(q("stage_names")).fetchall()]


def list_tasks(
    conn: Connection, stage: str | None = None, include_closed: bool = False, limit: int = 200
) -> list[TaskRow]:
    """Tasks in workflow order; an unknown stage is an error, not an empty list."""
    if stage is not None:
        known = stage_names(conn)
        if stage not in known:
            raise BadInput(f"no stage {stage!r}; stages are {', '.join(known)}")
    params = {"stage": stage, "all": include_closed or stage is not None, "limit": limit}
    return _rows(conn, "task_list", TaskRow, params)


@dataclass(frozen=True)
class BoardSnapshot:
    """Stage counts, the tasks being worked now, and the ones waiting for a person."""

    stages: list[StageCount]
    active: list[ActiveTask]
    blocked: list[BlockedTask]
    integrators: list[str]


def board(conn: Connection) -> BoardSnapshot:
    return BoardSnapshot(
        stages=_rows(conn, "stage_counts", StageCount),
        active=_rows(conn, "active_tasks", ActiveTask),
        blocked=_rows(conn, "blocked_tasks", BlockedTask),
        integrators=integrators(conn),
    )


def events(
    conn: Connection, task: UUID | None = None, family: str | None = None, limit: int = 100
) -> list[Event]:
    """The newest events first."""
    from ainarres.models import Event

    rows = conn.execute(q("events"), {"task": task, "family": family, "limit": limit}).fetchall()
    return [Event.model_validate(r) for r in rows]


def integrators(conn: Connection) -> list[str]:
    """The families that hold the integrator role now (one, or none: integration halted)."""
    return [r["name"] for r in conn.execute(q("integrators")).fetchall()]


def families(conn: Connection, name: str | None = None) -> list[FamilyRow]:
    rows = _rows(conn, "family_list", FamilyRow, {"name": name})
    if name is not None and not rows:
        raise AinarresError(f"no family {name!r}; see `ainarres family list`")
    return rows


def awaiting_integration(conn: Connection) -> list[Task]:
    """Approved tasks waiting for the integrator, in the order it would take them."""
    from ainarres.models import Task

    return [Task.model_validate(r["task"]) for r in conn.execute(q("awaiting_integration"))]


def step_families(conn: Connection, task: UUID) -> dict[str, str]:
    """Which family last took each step of a task: {"implement": "opencode+qwen", ...}."""
    rows = conn.execute(q("step_families"), {"task": task}).fetchall()
    return {r["stage"]: r["family"] for r in rows}


def open_branches(conn: Connection) -> set[str]:
    """The branches of tasks still in play (their worktrees must stay)."""
    return {r["branch"] for r in conn.execute(q("open_branches")).fetchall()}


def annotations_of(conn: Connection, task: UUID, round_: int | None = None) -> list[Annotation]:
    """A task's annotations (of one round, or all), by round, file and line."""
    from ainarres.models import Annotation

    return _rows(conn, "annotations", Annotation, {"task": task, "round": round_})


def reviews(conn: Connection, task: UUID) -> list[ReviewRound]:
    """Every verdict on a task, oldest first: its review rounds."""
    return _rows(conn, "reviews", ReviewRound, {"task": task})


def feedback(conn: Connection, task: UUID) -> list[Feedback]:
    """Everything that came back to the task since its branch was last handed on, typed by
    source (review, checks, conflict, a person, an expired lease, notes), oldest first."""
    from ainarres.models import Feedback

    items = []
    for row in conn.execute(q("feedback"), {"task": task}).fetchall():
        data = row["data"] or {}
        kind = row["kind"]
        annotations: list[Annotation] = []
        round_ = data.get("round")
        if kind == "returned":
            source = data.get("cause") or "returned"
            if source == "review" and round_ is not None:
                annotations = annotations_of(conn, task, int(round_))
            reason = str(data.get("reason") or "")
        elif kind == "unblocked":
            source, reason = "person", str(data.get("reason") or "")
        elif kind == "blocked":
            source, reason = "blocked", str(data.get("reason") or "")
        elif kind == "lease_expired":
            source = "lease_expiry"
            reason = (
                f"{row['family'] or '?'}/{row['agent'] or '?'} stopped heartbeating "
                f"(attempt {data.get('attempts', '?')}); what it pushed is on the branch"
            )
        else:
            source, reason = "note", str(data.get("body") or "")
        items.append(
            Feedback.model_validate(
                {"source": source, "reason": reason, "detail": data.get("detail"),
                 "family": row["family"], "agent": row["agent"], "at": row["at"],
                 "round": round_, "annotations": annotations}
            )
        )  # fmt: skip
    return items


def workflows(conn: Connection) -> list[WorkflowRow]:
    """Each workflow's cross review and its stages' settings."""
    return _rows(conn, "workflows", WorkflowRow)


def integration_run(conn: Connection) -> IntegrationRun | None:
    """The integrate run the board knows of (pid, host, since, last beat), or None."""
    found = _rows(conn, "integration_run", IntegrationRun)
    return found[0] if found else None


def shipped(conn: Connection) -> list[Shipped]:
    """Shipped tasks with the families that implemented, reviewed and integrated each."""
    return _rows(conn, "shipped", Shipped)


def report_facts(conn: Connection) -> ReportFacts:
    """The rest of the report: returns, blocked tasks, stage times, usage, unsandboxed."""
    return ReportFacts(
        returned=_rows(conn, "returned", Returned),
        blocked=_rows(conn, "blocked_tasks", BlockedTask),
        stage_times=_rows(conn, "stage_times", StageTime),
        usage=_rows(conn, "usage_by_family", Usage),
        unsandboxed=_rows(conn, "unsandboxed_agents", Unsandboxed),
    )


def governance(conn: Connection) -> Governance:
    """Track records, policies, active denials, where each family stands, the integrators."""
    return Governance(
        track_records=_rows(conn, "track_records", TrackRecord),
        policies=_rows(conn, "policies", Policy),
        denials=_rows(conn, "active_denials", Denial),
        standing=_rows(conn, "policy_standing", PolicyStanding),
        integrators=integrators(conn),
    )


# --- the operator's alone (the private schema: a family's login is refused) ---------------


def canary_settings(conn: Connection) -> CanarySettings:
    found = _rows(conn, "canary_settings", CanarySettings)
    if not found:
        raise AinarresError("the board has no canary settings; run `ainarres init` to migrate it")
    return found[0]


def canary_holds(conn: Connection) -> list[CanaryHold]:
    return _rows(conn, "canary_holds", CanaryHold)


def canary_verdicts(conn: Connection) -> list[UUID]:
    """Tasks whose recorded verdict waits to be applied, oldest first."""
    return [row["task_id"] for row in conn.execute(q("canary_verdicts")).fetchall()]


def canary_results(conn: Connection) -> list[CanaryResult]:
    return _rows(conn, "canary_results", CanaryResult)
