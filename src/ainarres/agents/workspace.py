"""An agent's workspace: its own clone of the hub, one worktree per claimed task, and the
signed pushes of its task branches.

Layout under the state directory:
  clones/<family>/<agent>/            a clone of the hub
  worktrees/<family>/<agent>/<branch>  one worktree per task branch
"""

from __future__ import annotations

from pathlib import Path

from ainarres import project
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput
from ainarres.git import clone as mirrors
from ainarres.git.push import PushResult, push
from ainarres.git.worktree import (
    PruneReport,
    Worktree,
    prepare_task_worktree,
    prune_worktrees,
    worktree_path_is_inside,
)
from ainarres.models import Task


def _safe(name: str) -> str:
    return name.replace("/", "_")


def clone_dir(settings: Settings, family: str, agent: str) -> Path:
    return settings.state_dir / "clones" / _safe(family) / _safe(agent)


def worktrees_root(settings: Settings, family: str, agent: str) -> Path:
    return settings.state_dir / "worktrees" / _safe(family) / _safe(agent)


def prepare(settings: Settings, agent: Agent, task: Task, epoch: int) -> Worktree:
    """Check out the task's branch (new from main, or the hub's after a return) and record
    its base commit on the board."""
    hub = project.require_hub(settings)
    wt = prepare_task_worktree(
        str(hub),
        clone_dir(settings, agent.family, agent.name),
        worktrees_root(settings, agent.family, agent.name),
        task.branch,
    )
    root = worktrees_root(settings, agent.family, agent.name)
    if not worktree_path_is_inside(root, wt.path):
        raise AinarresError(f"worktree {wt.path} escapes {root}; refusing to use it")
    if task.base_commit != wt.base_commit:
        out = agent.set_base(task.id, epoch, wt.base_commit)
        if not out.ok:
            raise AinarresError(out.message)
    return wt


def worktree_of(settings: Settings, family: str, agent: str, task: Task) -> Path:
    path = worktrees_root(settings, family, agent) / _safe(task.branch)
    if not path.is_dir():
        raise BadInput(f"no worktree for {task.short_id} at {path}; `ainarres next` prepares it")
    return path


def push_branch(
    settings: Settings, family: str, worktree: Path, task: Task, epoch: int
) -> PushResult:
    """Push the worktree's HEAD to the hub's task branch, signed, with the claim epoch."""
    hub = project.require_hub(settings)
    return push(
        worktree,
        str(hub),
        [f"HEAD:refs/heads/{task.branch}"],
        key=project.family_key(settings, family),
        signed=True,
        options=[f"ainarres-epoch={epoch}"],
    )


def verified_head(settings: Settings, task: Task, head: str | None) -> str:
    """The head to record for `done`: it must be what the hub's task branch holds now."""
    hub = project.require_hub(settings)
    tip = mirrors.hub_ref(str(hub), f"refs/heads/{task.branch}")
    if tip is None:
        raise AinarresError(
            f"the hub has no {task.branch} yet; push your work first "
            f"(`ainarres push {task.short_id}`)"
        )
    if head is not None and head != tip:
        raise AinarresError(
            f"{head[:12]} is not the tip of the hub's {task.branch} ({tip[:12]}); push it first"
        )
    return tip


def prune(settings: Settings, family: str, agent: str, keep: set[str]) -> PruneReport:
    """Remove worktrees whose branches are merged into the hub's main (never unmerged work)."""
    repo = clone_dir(settings, family, agent)
    if not repo.is_dir():
        return PruneReport(removed=[], kept=[])
    mirrors.fetch_origin(repo)
    return prune_worktrees(repo, keep, "origin/main")
