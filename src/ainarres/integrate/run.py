"""`ainarres integrate`: approved tasks -> merges -> checks -> one signed push.

The integrator claims the integration steps as its family, merges each reviewed head onto
main in its own copy of the hub, kept apart from any other (ADR 0016), with `git
merge-tree` (no checkout, the same tree the gate recomputes), each merge onto the one
before. The project's checks run in the sandbox once per batch of merges, on the last one
(the merge queue, `queue.py`, ADR 0017): a batch that passes ships whole; one that fails
is bisected to the task(s) that broke it, which go back to their implementers with the
failing output, and the others are merged again without them. The good merges go to the
hub with one signed push (the gate checks each first-parent merge), then the board marks
those tasks shipped. `[checks] batch = 1` checks every merge on its own.

Rerun-safe: every merge carries an `Ainarres-Task` trailer. After a crash between the
push and the board update, a rerun resumes the tasks its agent still holds, finds their
merges on the hub's main, and ships them without merging anything twice. The copy and
the checks' checkouts are caches: a kill can damage neither for the next run.

Nothing ships unchecked by surprise: with no `[checks]` on main, integrate refuses unless
a person passes `--no-checks` or the project says `skip = "why"`. A task that changes the
checks is integrated alone, and the new checks apply from the next run. A check that
fails and then passes when run again (`retries`) is flaky: said, and noted on the tasks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from ainarres import project
from ainarres.agents import sandbox
from ainarres.board import reads
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput, BoardLost
from ainarres.git import clone as mirrors
from ainarres.git import merge as merges
from ainarres.git.keys import SigningKey
from ainarres.git.layout import MAIN_REF as MAIN
from ainarres.git.layout import TASK_TRAILER
from ainarres.git.location import HubLocation
from ainarres.git.push import push
from ainarres.git.worktree import isolated_checkout
from ainarres.integrate.checks import HOW_TO, CheckResult, Checks, load_checks, run_checks
from ainarres.integrate.queue import Culprit, Link, Probe, Sizing, batches
from ainarres.models import Outcome, Task
from ainarres.processes import alive, failpoint
from ainarres.store import Store
from ainarres.text import storable, visible

ROLE = "integrator"
CONFIG = "ainarres.toml"
PATIENCE = 300.0  # seconds integrate waits for a board that went away
RUN_BEAT = 15.0  # seconds between the run's signs of life (a minute of silence ends it)


@dataclass(frozen=True)
class Options:
    family: str
    agent: str = f"integrate@{socket.gethostname()}"
    dry_run: bool = False
    once: bool = False
    checks: bool = True
    passphrase: str | None = None  # opens the integrator's key (None: unprotected or agent)
    use_agent: bool = False  # sign through the person's ssh-agent
    sandbox_checks: bool = True  # False: the person ran with --unsandboxed-checks


@dataclass(frozen=True)
class TaskResult:
    """What happened to one task: shipped, returned (with why), or what a dry run would do."""

    short_id: str
    title: str
    outcome: str  # shipped | returned | would-ship | would-return | deferred
    detail: str = ""


@dataclass
class _Held:
    task: Task
    epoch: int


def _mirror(settings: Settings, options: Options, progress: Callable[[str], None]) -> Path:
    hub = project.require_hub(settings, options.family, options.passphrase)
    dest = Store(settings.state_dir).integrator_copy(options.family)
    return mirrors.ensure_bare_mirror(str(hub), dest, progress)


def _claim(agent: Agent, once: bool) -> list[_Held]:
    """What this agent still holds from a crashed run first, then fresh integration steps."""
    held = [_Held(h.task, h.epoch) for h in agent.resume().held or []]
    while not (once and held):
        out = agent.claim_next(ROLE)
        if out.outcome == "empty":
            break
        if not out.ok or out.task is None or out.epoch is None:
            raise AinarresError(out.message)
        held.append(_Held(out.task, out.epoch))
    return held


def _message(conn: Connection, task: Task, family: str) -> str:
    steps = reads.step_families(conn, task.id)
    trailers = {TASK_TRAILER: str(task.id), merges.INTEGRATED_BY: family}
    if "implement" in steps:
        trailers[merges.IMPLEMENTED_BY] = steps["implement"]
    if "review" in steps:
        trailers[merges.REVIEWED_BY] = steps["review"]
    return merges.merge_message(task.title, trailers)


@dataclass(frozen=True)
class _Plan:
    """How this run checks merges: the [checks] read from main before the run (never from
    a task's own change), and where checkouts go."""

    checks: Checks | None  # None: --no-checks
    config_text: str | None
    mounts_for: Callable[[Path, Path], sandbox.Mounts] | None
    scratch: Path


def _plan(settings: Settings, mirror: Path, tip: str, options: Options) -> _Plan:
    text = mirrors.read_blob(mirror, tip, CONFIG)
    scratch = Store(settings.state_dir).scratch
    if not options.checks:
        return _Plan(None, text, None, scratch)
    if text is None:
        raise BadInput(f"main has no {CONFIG}, so nothing would check the merges: {HOW_TO}; "
                       "or pass --no-checks to integrate unchecked this once")  # fmt: skip
    try:
        checks = load_checks(text)
    except BadInput as exc:
        raise BadInput(f"{exc.message}; or pass --no-checks to integrate unchecked") from None
    if checks.skip is not None or not options.sandbox_checks:
        return _Plan(checks, text, None, scratch)
    reason = sandbox.unavailable_reason()
    if reason is not None:
        raise BadInput(f"the checks run the task's code and must run in the sandbox, which "
                       f"cannot start here ({reason}); install bubblewrap, or pass "
                       "--unsandboxed-checks to run them as you (unsafe)")  # fmt: skip
    local = project.require_hub(settings).local
    hidden = (settings.state_dir, *([local] if local is not None else []))

    def mounts_for(checkout: Path, objects: Path) -> sandbox.Mounts:
        return sandbox.Mounts(writable=(checkout,), hidden=hidden, readable=(objects,))

    return _Plan(checks, text, mounts_for, scratch)


def _run_checks(plan: _Plan, checks: Checks, mirror: Path, commit: str,
                progress: Callable[[str], None]) -> CheckResult:  # fmt: skip
    """Run the project's checks once on a checkout of `commit` (in the sandbox, unless the
    person chose otherwise)."""
    with isolated_checkout(mirror, commit, plan.scratch) as workdir:
        failpoint("checkout")
        mounts = None if plan.mounts_for is None else plan.mounts_for(workdir, mirror / "objects")

        def heard(step: str, seconds: float) -> None:
            if seconds == 0.0:
                failpoint("checks")
                progress(f"{commit[:12]} checks: {step} started")
            else:
                progress(f"{commit[:12]} checks: {step} running ({seconds:.0f} s)")

        return run_checks(checks, workdir, mounts=mounts, progress=heard)


def _changes_checks(plan: _Plan, mirror: Path, tip: str, head: str | None) -> bool:
    """Whether the task changes [checks]: its head has other checks than main had at the
    start, and it changed the file itself (a head that forked before main's checks last
    changed has the old file, and its merge keeps main's). Only asked when checking."""
    if plan.checks is None or head is None:
        return False
    theirs = mirrors.read_blob(mirror, head, CONFIG)
    if theirs == plan.config_text:
        return False
    if merges.has_commit(mirror, head):
        base = merges.merge_base(mirror, tip, head)
        if base is not None and mirrors.read_blob(mirror, base, CONFIG) == theirs:
            return False
    try:
        mine = load_checks(plan.config_text) if plan.config_text else None
    except BadInput:
        mine = None
    try:
        new = load_checks(theirs) if theirs else None
    except BadInput:
        return True  # broken checks config: certainly a change, integrated alone
    return mine != new


def _send_back(agent: Agent, h: _Held, why: str, merged: _Merged,
               progress: Callable[[str], None]) -> bool:  # fmt: skip
    """Return the task with its reason and detail; both are the task's own text (its test
    output, its files' lines), so they are made storable first, and a board that still
    refuses them gets the plain reason, then a release: one task never stops integration."""
    t = h.task
    reason = storable(why.splitlines()[0] if why else "not merged", 4000)
    detail = storable(merged.detail, 65536) if merged.detail else None
    out = agent.return_task(t.id, h.epoch, reason, merged.cause, detail)
    if out.outcome == "invalid":
        out = agent.return_task(t.id, h.epoch, "returned by integrate (reason not storable)",
                                merged.cause)  # fmt: skip
    if out.ok:
        return True
    progress(f"{t.short_id} could not be returned ({out.outcome}: {out.message}); released")
    agent.release(t.id, h.epoch)
    return False


def _verb(out: Outcome, what: str) -> Outcome:
    if not out.ok:
        raise AinarresError(f"{what}: the board said {out.outcome}: {out.message}")
    return out


def integrate(
    settings: Settings, options: Options, progress: Callable[[str], None] = lambda _: None
) -> list[TaskResult]:
    """Integrate approved tasks; see the module docstring. Returns one result per task.

    When the board goes away mid-run, integrate waits for it (up to `PATIENCE` seconds)
    and runs again from the start: every step is safe to repeat, and a new run re-reads
    the hub and the board, shipping what a broken run had already pushed."""
    delay = 1.0
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            return _integrate_once(settings, options, progress)
        except BoardLost as exc:
            if time.monotonic() + delay > deadline:
                raise
            progress(f"{exc.message}; running again in {delay:.0f} s")
            time.sleep(delay)
            delay = min(30.0, delay * 2)


def _integrate_once(
    settings: Settings, options: Options, progress: Callable[[str], None]
) -> list[TaskResult]:
    hub = project.require_hub(settings, options.family, options.passphrase)
    key = project.family_key(settings, options.family)
    mirror = _mirror(settings, options, progress)
    failpoint("fetch")
    tip = mirrors.rev_parse(mirror, MAIN)
    if tip is None:
        raise AinarresError(f"the hub {hub} has no main branch")
    plan = _plan(settings, mirror, tip, options)
    if plan.checks is None:
        progress("checks are OFF for this run (--no-checks): merges ship unchecked")
    elif plan.checks.skip is not None:
        progress(f"no checks: the project says {plan.checks.skip!r}")
    on_main = merges.trailers_on_first_parent(mirror, tip, TASK_TRAILER)
    with open_connection(family_conninfo(settings, options.family)) as conn:
        if options.dry_run:
            return _dry_run(conn, mirror, tip, plan, on_main, options, progress)
        agent = Agent.start(conn, options.agent)
        with _only_run(settings, agent, options, progress):
            return _integrate_held(conn, agent, hub, key, mirror, tip, plan, on_main, options,
                                   progress)  # fmt: skip


@contextlib.contextmanager
def _only_run(settings: Settings, agent: Agent, options: Options,
              progress: Callable[[str], None]) -> Iterator[None]:  # fmt: skip
    """Hold the board's one integrate run while the body works (a beat keeps it alive; a
    run killed without a goodbye is taken over a minute later, or at once on its host)."""
    pid, host = os.getpid(), socket.gethostname()
    out = agent.integrate_begin(pid, host)
    if out.outcome == "blocked":
        row = reads.integration_run(agent.conn)
        if row is not None and row.host == host and not alive(row.pid):
            progress(f"took over from a dead integrate (pid {row.pid}) on this host")
            out = agent.integrate_begin(pid, host, takeover=True)
    if not out.ok:
        raise AinarresError(out.message)
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(settings, options.family, agent, pid, stop),
                            daemon=True)  # fmt: skip
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        with contextlib.suppress(AinarresError):
            agent.integrate_end(pid)


def _beat(settings: Settings, family: str, agent: Agent, pid: int, stop: threading.Event) -> None:
    """Keep the run alive from a connection of its own (the main one may be busy)."""
    conn: Connection | None = None
    try:
        while not stop.wait(RUN_BEAT):
            try:
                conn = conn or open_connection(family_conninfo(settings, family))
                Agent(conn, agent.id, agent.name, agent.family).integrate_beat(pid)
            except AinarresError:
                if conn is not None:
                    conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()


def _integrate_held(
    conn: Connection,
    agent: Agent,
    hub: HubLocation,
    key: SigningKey,
    mirror: Path,
    tip: str,
    plan: _Plan,
    on_main: dict[str, str],
    options: Options,
    progress: Callable[[str], None],
) -> list[TaskResult]:
    held = _claim(agent, options.once)
    if not held:
        progress("nothing approved to integrate")
        return []
    results: list[TaskResult] = []
    landed: list[_Held] = []
    queue: list[_Held] = []
    for h in held:
        if str(h.task.id) in on_main:
            found = on_main[str(h.task.id)]
            progress(f"{h.task.short_id} already on main ({found[:12]}): shipping")
            landed.append(h)
        else:
            queue.append(h)
    run = _Queue(conn, agent, mirror, plan, options, progress, results)

    def defer(h: _Held, said: str, detail: str) -> None:
        _verb(agent.release(h.task.id, h.epoch), f"releasing {h.task.short_id}")
        progress(f"{h.task.short_id} {said}")
        results.append(TaskResult(h.task.short_id, h.task.title, "deferred", detail))

    # A task that changes the checks is judged by main's checks alone, first in the run;
    # after it ships the rest waits for the next run (and the new checks). One found later
    # in the queue waits for a run of its own.
    start = tip
    while queue and _changes_checks(plan, mirror, start, queue[0].task.head_commit):
        tip = run.drain([queue.pop(0)], tip, Sizing(1, 1))
        if run.shipped:
            for h in queue:
                defer(h, "waits for the next run (a change of the checks goes alone)",
                      "after a change of the checks, in the next run")  # fmt: skip
            queue = []
    for h in [h for h in queue if _changes_checks(plan, mirror, start, h.task.head_commit)]:
        defer(h, "changes the checks: it goes alone, in the next run",
              "it changes the checks: integrated alone")  # fmt: skip
        queue.remove(h)
    tip = run.drain(queue, tip, run.sizing(len(queue)))
    run.summary()
    shipped = run.shipped
    if shipped:
        failpoint("before-push")
        pushed = push(mirror, str(hub), [f"{tip}:{MAIN}"], key=key, signed=True,
                      passphrase=options.passphrase, use_agent=options.use_agent)  # fmt: skip
        if not pushed.ok:
            refused = f"the hub refused main: {pushed.why}"
            try:
                for h in shipped + landed:
                    agent.release(h.task.id, h.epoch)
            except AinarresError as exc:
                refused += f" (and the claims were not released: {exc.message})"
            raise AinarresError(refused)
        progress(f"pushed main {tip[:12]} ({len(shipped)} merge(s))")
        failpoint("after-push")
    for h in landed + shipped:
        out = agent.advance(h.task.id, h.epoch)
        if not out.ok:
            raise AinarresError(
                f"{h.task.short_id} is on main but the board said "
                f"{out.outcome}: {out.message}; run integrate again"
            )
        progress(f"{h.task.short_id} shipped")
        results.append(TaskResult(h.task.short_id, h.task.title, "shipped",
                                  run.flaky.get(h.task.id, "")))  # fmt: skip
        failpoint("shipping")
    return results


@dataclass(frozen=True)
class _Merged:
    """Either the merge commit, or why (and for governance, the cause) the task goes back."""

    commit: str | None
    why: str | None = None
    cause: str | None = None  # checks | conflict
    detail: str | None = None  # the checks' output, for the next claimer in full


def _merge(conn: Connection, mirror: Path, tip: str, h: _Held, options: Options) -> _Merged:
    """Merge one reviewed head onto `tip` (unchecked)."""
    t = h.task
    if t.head_commit is None or not merges.has_commit(mirror, t.head_commit):
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
            + "; the next claim merges main into the task branch: resolve the conflict "
            "markers there and push again",
            "conflict",
            result.hunks or None,
        )
    if result.already_merged or result.commit is None:
        return _Merged(
            None,
            "main already contains this head but no merge names the task; a person should look",
        )
    return _Merged(result.commit)


def _blame(culprit: Culprit[_Held, CheckResult], under: int) -> _Merged:
    """Why a culprit goes back: the failing run of the first tree that held it, merged
    onto main and `under` other approved tasks of this run, a tree that passed (narrowed:
    a tree that passed the tests named)."""
    run = culprit.run
    tests = run.failing_tests
    named = f"; failing: {', '.join(tests)}" if tests else ""
    why = f"checks failed ({run.failed}) on the merge with main{named}"
    if under:
        which = "on which these tests pass" if culprit.narrowed else "which pass"
        why += f" (with {under} other approved merge(s) of this run under it, {which})"
    return _Merged(None, why, "checks", run.output_tail[-60000:])


def _names(links: Sequence[Link[_Held]]) -> str:
    ids = [link.task.task.short_id for link in links]
    return " ".join(ids if len(ids) <= 6 else [*ids[:3], "…", *ids[-2:]])


@dataclass
class _Queue:
    """One run's merge queue (`queue.py` decides; this merges, checks and gives back).

    `agent` None is a dry run: nothing is returned, noted or shipped, only said."""

    conn: Connection
    agent: Agent | None
    mirror: Path
    plan: _Plan
    options: Options
    progress: Callable[[str], None]
    results: list[TaskResult]
    shipped: list[_Held] = field(default_factory=list)
    flaky: dict[UUID, str] = field(default_factory=dict)  # task -> what its result says
    runs: int = 0  # runs of the checks, runs again after a failure included
    again: int = 0  # of which runs again
    merged: int = 0  # merges made (a task merged again after a culprit counts twice)

    @property
    def checks(self) -> Checks | None:
        """The checks this run runs (None: unchecked, by --no-checks or the project's skip)."""
        checks = self.plan.checks
        return None if checks is None or checks.skip is not None else checks

    def sizing(self, queued: int) -> Sizing:
        """The first batch's size from [checks]; unchecked, one batch takes everything."""
        if self.checks is None:
            return Sizing(max(1, queued), max(1, queued))
        return Sizing(self.checks.batch, self.checks.max_batch)

    def drain(self, queue: list[_Held], tip: str, sizing: Sizing) -> str:
        """Integrate `queue` onto `tip` batch after batch; return the new tip."""
        for done in batches(tip, queue, sizing, self.build, self.check, self.narrow):
            before = len(self.shipped)
            tip = done.tip
            self.shipped += done.shipped
            for culprit in done.culprits:
                self.give_back(culprit.task, _blame(culprit, before + culprit.below))
            if self.checks is None:
                continue
            for was, now, verdict in zip(done.sizes, done.sizes[1:], done.verdicts, strict=False):
                if now != was:
                    how = "passed" if verdict else "failed"
                    self.progress(f"batch size {was} -> {now} (a batch {how})")
        return tip

    def build(self, onto: str, todo: Sequence[_Held]) -> list[Link[_Held]]:
        """Merge each task onto the one before; one that does not merge goes back."""
        chain: list[Link[_Held]] = []
        tip = onto
        if len(todo) > 1:
            self.progress(f"merging a batch of {len(todo)} onto {onto[:12]}")
        for h in todo:
            merged = _merge(self.conn, self.mirror, tip, h, self.options)
            if merged.commit is None:
                self.give_back(h, merged)
                continue
            tip = merged.commit
            self.merged += 1
            chain.append(Link(h, tip))
            self.progress(f"{h.task.short_id} merged as {tip[:12]}: {h.task.title}")
            failpoint("merge")
        return chain

    def check(self, chain: Sequence[Link[_Held]], size: int) -> CheckResult:
        """Check the last merge of `chain`, again after a failure up to `retries` times."""
        checks = self.checks
        if checks is None:
            return CheckResult(True, None, "", 0.0)
        commit = chain[-1].commit
        if size == 1:
            self.progress(f"{chain[0].task.task.short_id} checking the merge with main")
        elif len(chain) == size:
            self.progress(f"checking a batch of {size} merges ({_names(chain)}) at {commit[:12]}")
        else:
            self.progress(f"bisecting: checking the first {len(chain)} of {size} merges "
                          f"({_names(chain)}) at {commit[:12]}")  # fmt: skip
        return self.run(checks, chain, commit, "checks")

    def narrow(self, failing: CheckResult) -> Probe[_Held, CheckResult] | None:
        """A probe running only the tests `failing` named ([checks] focus, ADR 0021)."""
        ids = failing.failing_ids
        checks = None if self.checks is None else self.checks.focused(ids)
        if checks is None:
            return None
        tests = len(ids)

        def probe(base: str, chain: Sequence[Link[_Held]], size: int) -> CheckResult:
            commit = chain[-1].commit if chain else base
            where = f"the first {len(chain)} of {size} merges" if chain else "main"
            self.progress(f"bisecting: running the {tests} failing test(s) on {where} "
                          f"at {commit[:12]}")  # fmt: skip
            failpoint("probe")
            return self.run(checks, chain, commit, "failing tests")

        return probe

    def run(self, checks: Checks, chain: Sequence[Link[_Held]], commit: str,
            what: str) -> CheckResult:  # fmt: skip
        """Run `checks` on `commit`, again after a failure up to `retries` times."""
        failures: list[CheckResult] = []
        while True:
            result = _run_checks(self.plan, checks, self.mirror, commit, self.progress)
            self.runs += 1
            if result.ok or len(failures) == checks.retries:
                break
            failures.append(result)
            self.again += 1
            self.progress(f"{what} failed ({result.failed}) on {commit[:12]}: running them "
                          f"again ({len(failures)} of {checks.retries})")  # fmt: skip
        if result.ok:
            self.progress(f"{what} passed on {commit[:12]} ({result.seconds:.1f} s)")
            if failures and chain:
                self.noted_flaky(chain, commit, failures)
        else:
            tests = result.failing_tests
            named = f": {', '.join(tests)}" if tests else ""
            self.progress(f"{what} failed ({result.failed}) on {commit[:12]}{named} "
                          f"({result.seconds:.1f} s)")  # fmt: skip
        return result

    def noted_flaky(self, chain: Sequence[Link[_Held]], commit: str,
                    failures: list[CheckResult]) -> None:  # fmt: skip
        """Passed after failing: flaky, said and noted on each task in that tree."""
        first, times = failures[0], len(failures)
        said = (f"flaky checks: {first.failed} failed {times} time(s) on {commit[:12]}, then "
                f"passed when run again; the tree merged {len(chain)} task(s) of this run "
                f"({_names(chain)})")  # fmt: skip
        self.progress(f"FLAKY: {said}")
        body = storable(f"{said}. The first failing run's output:\n{first.output_tail}", 16000)
        for link in chain:
            h = link.task
            self.flaky[h.task.id] = said
            if self.agent is None:
                continue
            out = self.agent.note(h.task.id, h.epoch, body)
            if not out.ok:
                self.progress(f"{h.task.short_id}: the flaky run was not noted "
                              f"({out.outcome}: {out.message})")  # fmt: skip

    def give_back(self, h: _Held, merged: _Merged) -> None:
        """Return the task to its implementer (in a dry run, say it would be)."""
        t = h.task
        why = merged.why or "not merged"
        detail = f"\n{merged.detail}" if merged.detail else ""
        if self.agent is None:
            self.results.append(TaskResult(t.short_id, t.title, "would-return", why))
            self.progress(f"{t.short_id} would return: {why}{detail}")
            return
        if not _send_back(self.agent, h, why, merged, self.progress):
            self.results.append(TaskResult(t.short_id, t.title, "deferred", why))
            return
        self.progress(f"{t.short_id} returned: {visible(why)}")
        self.results.append(TaskResult(t.short_id, t.title, "returned", why + detail))

    def summary(self) -> None:
        if self.runs:
            again = f", {self.again} of them again after a failure" if self.again else ""
            self.progress(f"checks ran {self.runs} time(s){again} for {self.merged} merge(s)")


def _dry_run(
    conn: Connection,
    mirror: Path,
    tip: str,
    plan: _Plan,
    on_main: dict[str, str],
    options: Options,
    progress: Callable[[str], None],
) -> list[TaskResult]:
    """Merge and check what is approved, batch by batch as a run would; change nothing:
    no claim, no return, no note, no push."""
    results: list[TaskResult] = []
    queue: list[_Held] = []
    for t in reads.awaiting_integration(conn):
        if str(t.id) in on_main:
            results.append(TaskResult(t.short_id, t.title, "would-ship", "already on main"))
            progress(f"{t.short_id} would ship (already on main)")
        else:
            queue.append(_Held(t, 0))
        if options.once:
            break
    run = _Queue(conn, None, mirror, plan, options, progress, results)
    run.drain(queue, tip, run.sizing(len(queue)))
    run.summary()
    for h in run.shipped:
        results.append(TaskResult(h.task.short_id, h.task.title, "would-ship",
                                  run.flaky.get(h.task.id, "")))  # fmt: skip
        progress(f"{h.task.short_id} would merge cleanly: {h.task.title}")
    return results
