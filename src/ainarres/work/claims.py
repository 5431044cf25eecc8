"""What follows a claim, for every front end (the CLI's `next`, the MCP server's `next`):
an implementer's worktree, made ready, or the claim given back."""

from __future__ import annotations

from collections.abc import Callable

from ainarres import project
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError
from ainarres.models import Outcome
from ainarres.work import implement
from ainarres.work.implement import Workspace


def prepare(settings: Settings, agent: Agent, out: Outcome, log: Callable[[str], None]
            ) -> Workspace | None:  # fmt: skip
    """The claimed task's worktree (None: not a claim, or not a step that writes a branch,
    or no hub); if it cannot be made, the claim is released (nothing is left held for a
    lease) and the error says both."""
    task, epoch = out.task, out.epoch
    if not out.ok or task is None or epoch is None:
        return None
    if not task.writes_branch or project.configured_hub(settings) is None:
        return None
    try:
        return implement.open_task(settings, agent, task, epoch, log=log)
    except AinarresError as exc:
        released = agent.release(task.id, epoch)
        raise AinarresError(
            f"claimed {task.short_id} but could not prepare its worktree ({exc.message}); "
            f"the claim was {'released' if released.ok else 'NOT released: ' + released.message}",
            exc.exit_code,
        ) from None
