"""The designer's side: a brief's tasks, created with the brief's done in one transaction."""

from __future__ import annotations

from uuid import UUID

from ainarres import text
from ainarres.board.verbs import Agent
from ainarres.errors import BadInput
from ainarres.models import Outcome, Task
from ainarres.work.results import DesignResult


def check(result: DesignResult) -> None:
    """Refuse a design whose texts the board would refuse, or whose dependencies point at
    a task that is not an earlier one of the same design."""
    for i, spec in enumerate(result.tasks):
        text.check(f"tasks.{i}.title", spec.title, max_bytes=200, single_line=True)
        text.check(f"tasks.{i}.body", spec.body, max_bytes=65536, single_line=False,
                   allow_empty=True)  # fmt: skip
        for dep in spec.depends_on:
            if not 0 <= dep < i:
                raise BadInput(f"tasks.{i}.depends_on: {dep} is not the index of an earlier task")


def create_tasks(agent: Agent, brief: Task, epoch: int, result: DesignResult) -> Outcome:
    """All the brief's tasks and its done, or (on any refusal) none of them."""
    check(result)
    made: list[UUID] = []

    def act() -> Outcome:
        for spec in result.tasks:
            out = agent.create_task(spec.title, spec.body, priority=spec.priority,
                                    depends_on=[made[d] for d in spec.depends_on],
                                    parent=brief.id)  # fmt: skip
            if not out.ok or out.task is None:
                return out
            made.append(out.task.id)
        return agent.advance(brief.id, epoch)

    return agent.atomically(act)
