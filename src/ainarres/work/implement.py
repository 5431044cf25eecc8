"""The implementer's side of a claim: the task's worktree, caught up with main; commits
made by the trusted side; a push that is verified on the hub; done with that head.

Layout of an agent's workspace: see `ainarres.store` (copies/, worktrees/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ainarres import project
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput
from ainarres.git import cache, trusted
from ainarres.git import clone as mirrors
from ainarres.git.merging import CatchUp, catch_up, leftover_markers
from ainarres.git.push import push
from ainarres.git.trusted import Layout
from ainarres.git.worktree import (
    PruneReport,
    Worktree,
    commit_all,
    prepare_task_worktree,
    prune_worktrees,
    worktree_layout,
)
from ainarres.models import Outcome, Task
from ainarres.store import Store

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Workspace:
    """A claimed task's worktree, ready for work."""

    worktree: Worktree
    catch_up: CatchUp | None

    @property
    def path(self) -> Path:
        return self.worktree.path

    @property
    def layout(self) -> Layout:
        assert self.worktree.layout is not None
        return self.worktree.layout


def _identity(agent: Agent) -> dict[str, str]:
    name, email = agent.family, f"{agent.name}@ainarres"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip


def open_task(settings: Settings, agent: Agent, task: Task, epoch: int,
              log: Log = _quiet) -> Workspace:  # fmt: skip
    """Check out the task's branch (new from main, or the hub's after a return), merge
    main into it when main has moved past its base, and record its base on the board.

    A merge that conflicts leaves ordinary conflict markers in the files it names
    (`Workspace.catch_up`); the work then is to resolve them by editing the files.
    """
    store = Store(settings.state_dir)
    hub = project.require_hub(settings, agent.family)
    copy = store.hub_copy(agent.family, agent.name)
    wt = prepare_task_worktree(str(hub), copy, store.worktrees(agent.family, agent.name),
                               task.branch, log=log)  # fmt: skip
    caught = None
    if not any("uncommitted changes" in n for n in wt.notes):
        with cache.exclusive(copy):
            caught = catch_up(wt, _identity(agent))
        if caught is not None:
            log(caught.summary)
    base = wt.base_commit if caught is None else caught.base
    if task.base_commit != base:
        out = agent.set_base(task.id, epoch, base)
        if not out.ok:
            raise AinarresError(out.message)
    return Workspace(wt, caught)


def find(settings: Settings, agent: Agent, task: Task) -> Layout:
    """The worktree `next` made for the held task, checked (CLI push and done use it)."""
    copy = Store(settings.state_dir).hub_copy(agent.family, agent.name)
    layout = worktree_layout(copy, task.branch) if copy.is_dir() else None
    if layout is None:
        raise BadInput(f"no worktree of {task.short_id} for agent {agent.name}; "
                       "`ainarres next` prepares it")  # fmt: skip
    return layout


def uncommitted(layout: Layout) -> list[str]:
    """The worktree's changes that are not committed (git status lines)."""
    return trusted.run(
        layout, "status", "--porcelain", "--ignore-submodules=all"
    ).stdout.splitlines()


def commit(agent: Agent, task: Task, layout: Layout, message: str | None = None) -> str | None:
    """Commit what the work left in the worktree (a conflict's resolution included) as the
    agent's family; None when nothing changed. Refused while conflict markers remain."""
    left = leftover_markers(layout)
    if left:
        raise BadInput(f"conflict markers remain in {', '.join(left[:5])}; resolve them by "
                       "editing the files, then try again")  # fmt: skip
    text = message or task.title
    return commit_all(layout, f"{text}\n\nAinarres-Task: {task.id}\n",
                      (agent.family, f"{agent.name}@ainarres"))  # fmt: skip


def push_head(settings: Settings, agent: Agent, task: Task, epoch: int, layout: Layout) -> str:
    """Push the worktree's HEAD to the task branch on the hub, signed, with the claim epoch;
    return the commit the hub now holds there."""
    head = trusted.run(layout, "rev-parse", "HEAD").stdout.strip()
    hub = project.require_hub(settings, agent.family)
    if mirrors.hub_ref(str(hub), f"refs/heads/{task.branch}") == head:
        # Nothing to send (a push of an up-to-date ref with push options can die of
        # SIGPIPE when receive-pack hangs up first).
        return head
    copy = Store(settings.state_dir).hub_copy(agent.family, agent.name)
    with cache.exclusive(copy):
        result = push(copy, str(hub), [f"{head}:refs/heads/{task.branch}"],
                      key=project.family_key(settings, agent.family), signed=True,
                      options=[f"ainarres-epoch={epoch}"])  # fmt: skip
    if not result.ok:
        raise AinarresError(f"the hub refused {task.branch}: {result.why}")
    return verified_head(settings, agent.family, task, head)


def verified_head(settings: Settings, family: str, task: Task, head: str | None) -> str:
    """The head to record for `done`: it must be what the hub's task branch holds now
    (read with ``family``'s key when the hub is reached over ssh)."""
    hub = project.require_hub(settings, family)
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


def changes_main(settings: Settings, agent: Agent, head: str) -> bool:
    """Whether `head` (on the hub) changes anything against the hub's main."""
    copy = Store(settings.state_dir).hub_copy(agent.family, agent.name)
    with cache.exclusive(copy):
        mirrors.refresh(str(project.require_hub(settings, agent.family)), copy)
        return mirrors.tree_differs_from_main(copy, head)


def done(settings: Settings, agent: Agent, task: Task, epoch: int, head: str | None,
         empty_reason: str | None = None, then_claim: bool = False) -> Outcome:  # fmt: skip
    """Done: the hub's tip of the task branch (checked against `head` when given) becomes
    the task's head. A change that leaves main as it is is refused unless `empty_reason`
    says why none is needed (it is recorded as a note). With `then_claim`, the same
    transaction claims the agent's next task (`Agent.advance_and_claim`)."""
    tip = verified_head(settings, agent.family, task, head)
    if not changes_main(settings, agent, tip):
        if not empty_reason:
            raise BadInput(
                f"{task.branch} at {tip[:12]} changes nothing against main; make the change, "
                "or say why none is needed with --empty REASON"
            )
        noted = agent.note(task.id, epoch, f"done with no change: {empty_reason}")
        if not noted.ok:
            return noted
    if then_claim:
        return agent.advance_and_claim(task.id, epoch, tip)
    return agent.advance(task.id, epoch, tip)


def prune(settings: Settings, family: str, agent: str, keep: set[str]) -> PruneReport:
    """Remove worktrees whose branches are merged into the hub's main (never unmerged work)."""
    copy = Store(settings.state_dir).hub_copy(family, agent)
    if not copy.is_dir():
        return PruneReport(removed=[], kept=[])
    with cache.exclusive(copy):
        mirrors.refresh(str(project.require_hub(settings, family)), copy)
    return prune_worktrees(copy, keep, "origin/main")
