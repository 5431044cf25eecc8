"""`ainarres integrate`: approved tasks -> in-memory merges -> checks -> one signed push.

The integrator claims the integration steps as its family, merges each reviewed head onto
main in a bare mirror (no checkout), runs the project's checks on each merge result,
pushes the batch of good merges with one signed push, then marks those tasks shipped.

Rerun-safe: every merge carries an `Ainarres-Task` trailer. After a crash between the
push and the board update, a rerun resumes the tasks its agent still holds, finds their
merges on the hub's main, and ships them without merging anything twice.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ainarres import project
from ainarres.board import reads
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError
from ainarres.git import clone as mirrors
from ainarres.git import merge as merges
from ainarres.git.push import push
from ainarres.git.worktree import scratch_worktree
from ainarres.integrate.checks import load_checks, run_checks
from ainarres.models import Task

ROLE = "integrator"
MAIN = "refs/heads/main"
FAILPOINT_ENV = "AINARRES_FAILPOINT"  # tests: crash on purpose at a named point


@dataclass(frozen=True)
class Options:
    family: str
    agent: str = f"integrate@{socket.gethostname()}"
    dry_run: bool = False
    once: bool = False
    checks: bool = True
    passphrase: str | None = None  # opens the integrator's key (None: unprotected or agent)
    use_agent: bool = False  # sign through the person's ssh-agent


@dataclass(frozen=True)
class TaskResult:
    """What happened to one task: shipped, returned (with why), or what a dry run would do."""

    short_id: str
    title: str
    outcome: str  # shipped | returned | would-ship | would-return
    detail: str = ""


@dataclass
class _Held:
    task: Task
    epoch: int


def _failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os._exit(86)  # a crash, not an exception: nothing gets to clean up


def _mirror(settings: Settings, family: str) -> Path:
    hub = project.require_hub(settings)
    return mirrors.ensure_bare_mirror(str(hub), settings.state_dir / "integrator" / f"{family}.git")


def _claim(agent: Agent, once: bool) -> list[_Held]:
    """What this agent still holds from a crashed run first, then fresh integration steps."""
    held = [
        _Held(Task.model_validate(h["task"]), int(h["epoch"])) for h in agent.resume().held or []
    ]
    while not (once and held):
        out = agent.claim_next(ROLE)
        if out.outcome != "ok":
            if out.outcome not in ("empty", "ok"):
                raise AinarresError(out.message)
            break
        assert out.task is not None and out.epoch is not None
        held.append(_Held(out.task, out.epoch))
    return held


def _message(conn: Connection, task: Task, family: str) -> str:
    steps = reads.step_families(conn, task.id)
    trailers = {merges.TASK_TRAILER: str(task.id), merges.INTEGRATED_BY: family}
    if "implement" in steps:
        trailers[merges.IMPLEMENTED_BY] = steps["implement"]
    if "review" in steps:
        trailers[merges.REVIEWED_BY] = steps["review"]
    return merges.merge_message(task.title, trailers)


def _check(mirror: Path, config_at: str, merge: str) -> str | None:
    """Run the project's checks on the merge result; None when they pass, else why not.

    The checks' configuration is read from main before the merge, never from the task's
    own change: the work under review must not choose the command that judges it.
    """
    config = mirrors.read_blob(mirror, config_at, "ainarres.toml")
    if config is None:
        return None
    checks = load_checks(config)
    with scratch_worktree(mirror, merge) as workdir:
        result = run_checks(checks, workdir)
    if result.ok:
        return None
    return f"checks failed ({result.failed}) on the merge with main:\n{result.output_tail}"[-3900:]


def integrate(
    settings: Settings, options: Options, progress: Callable[[str], None] = lambda _: None
) -> list[TaskResult]:
    """Integrate approved tasks; see the module docstring. Returns one result per task."""
    hub = project.require_hub(settings)
    key = project.family_key(settings, options.family)
    mirror = _mirror(settings, options.family)
    tip = mirrors.rev_parse(mirror, MAIN)
    if tip is None:
        raise AinarresError(f"the hub {hub} has no main branch")
    config_at = tip
    on_main = merges.trailers_on_first_parent(mirror, tip, merges.TASK_TRAILER)
    with open_connection(family_conninfo(settings, options.family)) as conn:
        if options.dry_run:
            return _dry_run(conn, mirror, tip, config_at, on_main, options, progress)
        agent = Agent.start(conn, options.agent)
        held = _claim(agent, options.once)
        if not held:
            progress("nothing approved to integrate")
            return []
        results: list[TaskResult] = []
        batch: list[_Held] = []
        landed: list[_Held] = []
        for h in held:
            t = h.task
            if str(t.id) in on_main:
                progress(f"{t.short_id} already on main ({on_main[str(t.id)][:12]}): shipping")
                landed.append(h)
                continue
            merged = _merge_one(conn, mirror, tip, config_at, h, options)
            if merged.commit is None:
                why = merged.why or "not merged"
                agent.return_task(t.id, h.epoch, why, merged.cause)
                progress(f"{t.short_id} returned: {why.splitlines()[0]}")
                results.append(TaskResult(t.short_id, t.title, "returned", why))
                continue
            tip = merged.commit
            batch.append(h)
            progress(f"{t.short_id} merged as {tip[:12]}: {t.title}")
        if batch:
            _failpoint("before-push")
            pushed = push(
                mirror,
                str(hub),
                [f"{tip}:{MAIN}"],
                key=key,
                signed=True,
                passphrase=options.passphrase,
                use_agent=options.use_agent,
            )
            if not pushed.ok:
                for h in batch + landed:
                    agent.release(h.task.id, h.epoch)
                lines = "; ".join(pushed.remote_lines) or pushed.stderr.strip()
                raise AinarresError(f"the hub refused main: {lines}")
            progress(f"pushed main {tip[:12]} ({len(batch)} merge(s))")
            _failpoint("after-push")
        for h in landed + batch:
            out = agent.advance(h.task.id, h.epoch)
            if not out.ok:
                raise AinarresError(
                    f"{h.task.short_id} is on main but the board said "
                    f"{out.outcome}: {out.message}; run integrate again"
                )
            progress(f"{h.task.short_id} shipped")
            results.append(TaskResult(h.task.short_id, h.task.title, "shipped"))
        return results


@dataclass(frozen=True)
class _Merged:
    """Either the merge commit, or why (and for governance, the cause) the task goes back."""

    commit: str | None
    why: str | None = None
    cause: str | None = None  # checks | conflict


def _merge_one(
    conn: Connection, mirror: Path, tip: str, config_at: str, h: _Held, options: Options
) -> _Merged:
    """Merge one reviewed head onto `tip` and check it."""
    t = h.task
    if t.head_commit is None or mirrors.rev_parse(mirror, t.head_commit) is None:
        return _Merged(
            None,
            f"the reviewed head {t.head_commit or '(none)'} is not on the "
            "hub; push the task branch and have it reviewed again",
        )
    result = merges.merge_in_memory(
        mirror,
        tip,
        t.head_commit,
        _message(conn, t, options.family),
        ("ainarres integrator", f"{options.family}@ainarres"),
    )
    if result.conflicts:
        return _Merged(
            None,
            "merge conflict with main in: "
            + ", ".join(result.conflicts)
            + "; merge main into the task branch, resolve, and push again",
            "conflict",
        )
    if result.already_merged or result.commit is None:
        return _Merged(
            None,
            "main already contains this head but no merge names the task; a person should look",
        )
    if options.checks:
        failed = _check(mirror, config_at, result.commit)
        if failed:
            return _Merged(None, failed, "checks")
    return _Merged(result.commit)


def _dry_run(
    conn: Connection,
    mirror: Path,
    tip: str,
    config_at: str,
    on_main: dict[str, str],
    options: Options,
    progress: Callable[[str], None],
) -> list[TaskResult]:
    """Merge and check what is approved, change nothing: no claim, no push."""
    results = []
    for t in reads.awaiting_integration(conn):
        if str(t.id) in on_main:
            results.append(TaskResult(t.short_id, t.title, "would-ship", "already on main"))
            progress(f"{t.short_id} would ship (already on main)")
            continue
        merged = _merge_one(conn, mirror, tip, config_at, _Held(t, 0), options)
        if merged.commit is None:
            why = merged.why or "not merged"
            results.append(TaskResult(t.short_id, t.title, "would-return", why))
            progress(f"{t.short_id} would return: {why.splitlines()[0]}")
        else:
            tip = merged.commit
            results.append(TaskResult(t.short_id, t.title, "would-ship"))
            progress(f"{t.short_id} would merge cleanly: {t.title}")
        if options.once:
            break
    return results
