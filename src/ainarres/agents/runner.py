"""`ainarres agent run`: one agent of one family, looping until stopped.

next --wait -> prepare the job -> run the tool (sandboxed, heartbeating) -> finish the job
(commit+push+done, annotate+verdict, or create tasks+done) -> again.

Before the first claim the runner checks its tool (`preflight`: installed and shown in the
sandbox, a version its adapter drives, a key or login, its model API reachable) and exits
with the reasons instead of taking a task it cannot work. The tool runs in the sandbox with
its family's own tool home as HOME (`toolhome`); one that shows no progress for the
family's silence_timeout is stopped like one that runs past its timeout.

Nothing is stranded: a job that fails for any reason lets its task go at once, with the
reason in the log (a tool that tampered with its worktree's git data blocks the task for a
person); SIGTERM or Ctrl-C stops the tool, releases the task and exits 0; a restarted agent
(same name) first releases what it still held; when the board goes away the runner waits
for it and carries on; a denied family waits for its denial to heal. The runner never
holds the integrator's key: config cannot ask for integrator.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ainarres.agents import claim_mcp, jobs, preflight, sandbox, toolhome
from ainarres.agents.adapters import get_adapter
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage
from ainarres.agents.config import FamilyConfig
from ainarres.board import reads
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput, BoardLost
from ainarres.git.cache import Busy, exclusive
from ainarres.git.trusted import Layout, LayoutChanged
from ainarres.git.worktree import sweep_scratch
from ainarres.models import Outcome
from ainarres.processes import failpoint, kill_group
from ainarres.store import Store
from ainarres.text import storable

#: consecutive failed tool runs after which the runner stops (a broken tool would
#: otherwise take every task in turn)
MAX_TOOL_FAILURES = 3
#: a runner heartbeats, so its lease is a heartbeat window, not a guess at the work's
#: length: a dead agent's task comes back in about a minute
RUNNER_LEASE = 60
BACKOFF_MAX = 15.0


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT while it waits for work."""


@dataclass(frozen=True)
class ToolRun:
    """How a tool run ended: its exit code, its usage, and why the runner stopped it (ran
    past its timeout, or showed no progress), if it did."""

    code: int
    usage: Usage
    stopped: str | None = None


@dataclass(frozen=True)
class RunOptions:
    family: str
    agent: str
    config: FamilyConfig
    sandbox: bool = True
    poll: float = 5.0
    until_idle: float | None = None  # exit after this many seconds without work
    max_tasks: int | None = None


class Runner:
    """One agent's loop. `log` receives progress lines."""

    def __init__(self, settings: Settings, options: RunOptions,
                 log: Callable[[str], None] = print) -> None:  # fmt: skip
        self.settings = settings
        self.options = options
        self.log = log
        cfg = options.config
        self.adapter: Adapter = get_adapter(cfg.adapter)(cfg.model, cfg.timeout, cfg.command)
        self.stopping = False
        self.waiting = False
        self.tool: subprocess.Popen[bytes] | None = None
        self.sandboxed = self._decide_sandbox()
        self.failures = 0
        # The claim a finished job's transaction made (done and next): the next job's.
        self.next_claim: Outcome | None = None

    def _decide_sandbox(self) -> bool:
        reason = sandbox.unavailable_reason()
        if not self.options.sandbox:
            self.log(
                f"{self.options.agent}: NOTICE: running the tool UNSANDBOXED (--no-sandbox); "
                "it can read every file this user can"
            )
            return False
        if reason is None:
            return True
        if self.adapter.real_tool:
            raise BadInput(
                f"cannot sandbox {self.options.config.adapter}: {reason}; install "
                "bubblewrap, or pass --no-sandbox to run it unsandboxed (unsafe)"
            )
        self.log(f"{self.options.agent}: NOTICE: scripted agent runs UNSANDBOXED: {reason}")
        return False

    # -- signals -------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.tool is not None and self.tool.poll() is None:
            kill_group(self.tool.pid, signal.SIGTERM)
        if self.waiting:
            raise _Stop()

    # -- the board, reconnecting ---------------------------------------------------------

    def _connect(self) -> Connection:
        delay = 0.5
        while True:
            try:
                return open_connection(family_conninfo(self.settings, self.options.family))
            except BoardLost as exc:
                if self.stopping:
                    raise _Stop() from None
                self.log(f"{self.options.agent}: board unreachable ({exc.message}); "
                         f"retrying in {delay:.0f} s")  # fmt: skip
                self._sleep(delay)
                delay = min(BACKOFF_MAX, delay * 2)

    def _start(self, conn: Connection) -> Agent:
        agent = Agent.start(conn, self.options.agent)
        agent.mark_sandboxed(self.sandboxed)
        return agent

    def _sleep(self, seconds: float) -> None:
        self.waiting = True
        try:
            time.sleep(seconds)
        finally:
            self.waiting = False

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped (or idle for `until_idle`); 0 on a clean stop."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._preflight()
        store = Store(self.settings.state_dir)
        for gone in sweep_scratch(store.scratch):
            self.log(f"{self.options.agent}: removed {gone}, left by a process that died")
        running = store.agent_state(self.options.family, self.options.agent)
        try:
            with exclusive(running.with_suffix(".run"), wait=0.5):
                return self._loop()
        except _Stop:
            return 0
        except Busy:
            raise AinarresError(f"agent {self.options.agent} of {self.options.family} is "
                                "already running on this machine; give this one another "
                                "--agent name") from None  # fmt: skip

    def _preflight(self) -> None:
        """A runner never takes a task its tool cannot work: it exits with the reason."""
        report = preflight.check(self.settings, self.options.family, self.options.config,
                                 sandboxed=self.sandboxed)  # fmt: skip
        if not report.ok:
            raise AinarresError(f"{self.options.agent}: cannot work: {report.summary()}; "
                                "nothing was claimed (ainarres agent check --family "
                                f"{self.options.family} says the same)")  # fmt: skip
        self.log(f"{self.options.agent}: preflight: {report.summary()}")

    def _loop(self) -> int:
        roles = list(self.options.config.roles)
        done = 0
        denied_said = False
        idle_since = time.monotonic()
        agent = self._start(self._connect())
        self._check_maker(agent)
        self._release_held(agent)
        self.log(f"{agent.name}: ready as {'/'.join(roles)}"
                 f"{'' if self.sandboxed else ' (unsandboxed)'}")  # fmt: skip
        try:
            while not self.stopping:
                waited = self.next_claim or self._wait(agent, roles, idle_since)
                self.next_claim = None
                if waited is None:  # lost the board: go on with a new connection
                    agent = self._start(self._connect())
                    continue
                out = waited
                if out.outcome == "empty":
                    if self._idle_too_long(idle_since):
                        self.log(f"{agent.name}: idle, stopping")
                        break
                    continue
                if out.outcome == "not_allowed":
                    # A denial heals by itself (governance) or by a person's lift: wait.
                    if self._idle_too_long(idle_since):
                        self.log(f"{agent.name}: {out.message}; idle, stopping")
                        break
                    if not denied_said:
                        self.log(f"{agent.name}: {out.message}; waiting until it may work")
                        denied_said = True
                    self._sleep(self.options.poll)
                    continue
                denied_said = False
                if not out.ok or out.task is None or out.epoch is None or out.role is None:
                    raise AinarresError(out.message)
                claim = jobs.Claimed(out.task, out.epoch, out.role)  # type: ignore[arg-type]
                last = self.options.max_tasks is not None and done + 1 >= self.options.max_tasks
                then = None if last else jobs.Then(roles, RUNNER_LEASE)
                agent = self._work(agent, claim, then)
                done += 1
                idle_since = time.monotonic()
                if last:
                    break
        finally:
            self._release_next(agent)
            agent.conn.close()
        return 0

    def _wait(self, agent: Agent, roles: Sequence[str], idle_since: float) -> Outcome | None:
        """The next claim, waited for (None: the board was lost, the connection closed)."""
        self.waiting = True
        try:
            return agent.wait_for_claim(
                self._wait_timeout(idle_since),
                self.options.poll,
                role=roles,
                lease_seconds=RUNNER_LEASE,
            )
        except BoardLost as exc:
            agent.conn.close()
            self.log(f"{agent.name}: lost the board ({exc.message}); reconnecting")
            return None
        finally:
            self.waiting = False

    def _release_next(self, agent: Agent) -> None:
        """Stopping with a claim its last job's transaction made: let it go at once."""
        out, self.next_claim = self.next_claim, None
        if out is None or out.task is None or out.epoch is None or agent.conn.closed:
            return
        said: str
        try:
            said = agent.release(out.task.id, out.epoch).outcome
        except AinarresError as exc:
            said = f"not released: {exc.message}; its lease will free it"
        self.log(f"{agent.name}: released {out.task.short_id}, claimed with its last done, "
                 f"as it stops ({said})")  # fmt: skip

    def _check_maker(self, agent: Agent) -> None:
        """ainarres.toml may say who makes the family's model; it must agree with the
        board, which decides who may review whom."""
        said = self.options.config.maker
        if said is None:
            return
        [row] = reads.families(agent.conn, self.options.family)
        if row.maker != said:
            raise BadInput(
                f"ainarres.toml says family {self.options.family}'s maker is {said}, the board "
                f"says {row.maker}: make them agree (the board's is set by `family add "
                "--maker`)"
            )

    def _release_held(self, agent: Agent) -> None:
        """A restarted agent lets go at once of what its earlier run still held: the work
        it pushed is on the task branch, and the next claimer starts from there."""
        held = agent.resume().held or []
        for item in held:
            out = agent.release(item.task.id, item.epoch)
            self.log(f"{agent.name}: released {item.task.short_id}, held by an earlier "
                     f"run of this agent ({out.outcome})")  # fmt: skip

    def _wait_timeout(self, idle_since: float) -> float | None:
        if self.options.until_idle is None:
            return None
        return max(0.1, self.options.until_idle - (time.monotonic() - idle_since))

    def _idle_too_long(self, idle_since: float) -> bool:
        limit = self.options.until_idle
        return limit is not None and time.monotonic() - idle_since >= limit

    # -- one job -------------------------------------------------------------------------

    def _work(self, agent: Agent, claim: jobs.Claimed, then: jobs.Then | None) -> Agent:
        """Do one claimed job; whatever happens, the task is not left held. Returns the
        agent to go on with (on a new connection if the board went away meanwhile). With
        `then`, the job's finishing transaction also claims the next job (`next_claim`)."""
        t = claim.task
        self.log(f"{agent.name}: claimed {t.short_id} [{t.stage}] as {claim.role}: {t.title}")
        beat = _Heartbeat(self.settings, agent, claim, self)
        beat.start()
        try:
            self._job(agent, claim, beat, then)
        except _ToolBroken:
            raise
        except BoardLost as exc:
            self.log(f"{agent.name}: lost the board during {t.short_id} ({exc.message}); "
                     "its lease will free it")  # fmt: skip
            agent.conn.close()
            return self._start(self._connect())
        except LayoutChanged as exc:
            self._give_up(agent, claim, f"blocked: {exc.message}", block=True)
        except BadInput as exc:
            self._give_up(agent, claim, f"the job was refused: {exc.message}")
            self._failed()
        except AinarresError as exc:
            self._give_up(agent, claim, f"the job failed: {exc.message}")
            self._failed()
        except Exception as exc:  # the task must not wait a whole lease for a bug
            self._give_up(agent, claim, f"the job failed: {type(exc).__name__}: {exc}")
            self._failed()
        finally:
            beat.stop()
        return agent

    def _failed(self) -> None:
        """One more job in a row that came to nothing: past a few, this agent stops rather
        than take every task in turn and let each go (a broken tool, a bug)."""
        self.failures += 1
        if self.failures >= MAX_TOOL_FAILURES:
            raise _ToolBroken(self.failures)

    def _job(self, agent: Agent, claim: jobs.Claimed, beat: _Heartbeat,
             then: jobs.Then | None) -> None:  # fmt: skip
        t = claim.task
        speaks_mcp = self.adapter.speaks_mcp or self.options.config.mcp
        with jobs.prepared(self.settings, agent, claim,
                           log=lambda line: self.log(f"{agent.name}: {line}"),
                           extra_readable=self.options.config.read_only_paths,
                           mcp=speaks_mcp) as prep:  # fmt: skip
            if self.stopping:
                self._let_go(agent, claim, False)
                return
            started = time.monotonic()
            # The claim's own MCP endpoint, for a tool that speaks MCP (claim_mcp.py): only
            # where the job names it (a tool that cannot reach it costs the SDK nothing).
            endpoint = None
            if prep.job.mcp:
                endpoint = claim_mcp.ClaimEndpoint(self.settings, agent, t, claim.epoch,
                                                   claim.role, prep.job.job_dir)  # fmt: skip
                endpoint.start()
            try:
                run = self._run_tool(prep)
            finally:
                if endpoint is not None:
                    endpoint.close()
            code, usage = run.code, run.usage
            seconds = time.monotonic() - started
            # The tool is done: no more beats, so none can wait on a row lock the
            # finishing transaction holds (a designer's inserts lock its brief).
            beat.stop()
            if self.stopping or beat.lost:
                self._let_go(agent, claim, beat.lost)
                return
            used = agent.record_usage(t.id, claim.epoch, usage.tokens, usage.cost_usd, seconds)
            if not used.ok:
                self.log(f"{agent.name}: {t.short_id}: usage not recorded: {used.message}")
            if code != 0 or run.stopped:
                self.failures += 1
                what = run.stopped or f"exited {code}"
                self._give_up(agent, claim, f"the {self.options.config.adapter} tool {what}; "
                              f"see {prep.job.job_dir}")  # fmt: skip
                if self.failures >= MAX_TOOL_FAILURES:
                    raise _ToolBroken(self.failures)
                return
            self.failures = 0
            said = endpoint.said if endpoint is not None else None
            fin = jobs.finish(self.settings, agent, claim, prep, said,
                              None if self.stopping else then)  # fmt: skip
            self.log(f"{agent.name}: {t.short_id} {fin.outcome.outcome}: {fin.outcome.message}")
            if fin.next is not None and fin.next.ok:
                self.next_claim = fin.next
                self.log(f"{agent.name}: claimed the next in the same transaction")
                failpoint("runner-after-next")
            if fin.warning:
                self.log(f"{agent.name}: {t.short_id}: {fin.warning}")

    def _give_up(self, agent: Agent, claim: jobs.Claimed, why: str, block: bool = False) -> None:
        """Let the task go now, saying why in its log: released for the next claimer, or
        blocked for a person when the tool attacked its worktree."""
        t = claim.task
        why = storable(why, 3900)  # it may quote a tool's file names or output

        def act() -> Outcome:
            if block:
                return agent.block(t.id, claim.epoch, why)
            noted = agent.note(t.id, claim.epoch, why)
            return agent.release(t.id, claim.epoch) if noted.ok else noted

        try:
            out = agent.atomically(act)
        except AinarresError as exc:
            self.log(f"{agent.name}: {t.short_id}: {why}; and could not let it go: {exc.message}")
            return
        verb = "blocked" if block else "released"
        self.log(f"{agent.name}: {t.short_id} {verb if out.ok else out.outcome}: {why}")

    def _let_go(self, agent: Agent, claim: jobs.Claimed, lost: bool) -> None:
        if lost:
            self.log(f"{agent.name}: lost the lease on {claim.task.short_id}; dropped the work")
            return
        agent.release(claim.task.id, claim.epoch)
        self.log(f"{agent.name}: stopped; released {claim.task.short_id}")

    # -- the tool ------------------------------------------------------------------------

    def _run_tool(self, prep: jobs.Prepared) -> ToolRun:
        job = prep.job
        inv = self.adapter.build(job)
        cfg = self.options.config
        home = toolhome.ensure(self.settings, self.options.family)
        extra = {**inv.env, "AINARRES_JOB_DIR": str(job.job_dir), "AINARRES_ROLE": job.role}
        for name, text in inv.files.items():  # the tool's settings for this job
            if "/" in name or name.startswith("."):
                raise AinarresError(f"the {cfg.adapter} adapter names a job file {name!r}")
            (job.job_dir / name).write_text(text)
        if self.adapter.own_git_index and prep.workspace is not None:
            extra.update(_own_git_index(prep.workspace.layout, job.job_dir))
        env = preflight.tool_env(self.adapter, cfg, self.sandboxed, home, extra)
        argv = list(inv.argv)
        if self.sandboxed:
            mounts = tool_mounts(prep, home)
            _check_visible(argv[0], env, mounts)
            argv = sandbox.wrap(argv, mounts, inv.cwd, env)
        before = {rel for rel in self.adapter.litter if os.path.lexists(inv.cwd / rel)}
        try:
            return self._spawn(argv, inv, job, env)
        finally:
            for rel in self.adapter.litter:
                if rel not in before:
                    _remove(inv.cwd / rel)

    def _spawn(self, argv: list[str], inv: Invocation, job: Job,
               env: dict[str, str]) -> ToolRun:  # fmt: skip
        # The output files are read through the descriptors opened here, never by name
        # again: the tool can write its job folder, and could swap a name for a FIFO or a
        # link (to /dev/zero, to a credential) that a read by name would follow.
        out_path, err_path = job.job_dir / "tool.out", job.job_dir / "tool.err"
        # Under bwrap the tool's environment is set inside (--clearenv --setenv ...); bwrap
        # itself needs only a PATH.
        outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed else env
        stdin = subprocess.PIPE if inv.stdin else subprocess.DEVNULL
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            try:
                self.tool = subprocess.Popen(
                    argv,
                    cwd=inv.cwd,
                    env=outer_env,
                    stdin=stdin,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BadInput(f"cannot start the tool {argv[0]!r}: {exc.strerror}") from None
            try:
                if inv.stdin and self.tool.stdin is not None:
                    self.tool.stdin.write(inv.stdin.encode())
                    self.tool.stdin.close()
                stopped = self._watch(self.tool, inv.timeout, (out.fileno(), err.fileno()))
                code = self.tool.wait()
                if stopped is not None:
                    err.write(f"\nainarres: the tool {stopped}\n".encode())
                    err.flush()
            finally:
                self.tool = None
            stdout, stderr = _tail(out.fileno()), _tail(err.fileno())
        return ToolRun(code, self.adapter.usage(stdout, stderr), stopped)

    def _watch(self, tool: subprocess.Popen[bytes], timeout: float,
               outputs: tuple[int, ...]) -> str | None:  # fmt: skip
        """Wait for the tool; stop it (its whole process group) when it runs past its
        timeout, or shows no progress for the family's silence_timeout: nothing printed but
        what its adapter calls idle (retries while the model is away). Returns why it was
        stopped, or None if it ended by itself."""
        silence = self.options.config.silence_timeout if self.adapter.prints_progress else None
        watch = _Progress(outputs, self.adapter)
        started = last = time.monotonic()
        poll = max(0.05, min(1.0, (silence or 8.0) / 8))
        while True:
            try:
                tool.wait(timeout=poll)
                return None
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if watch.progressed():
                last = now
            why = None
            if now - started >= timeout:
                why = f"ran past its {timeout:.0f} s timeout"
            elif silence is not None and now - last >= silence:
                why = (
                    f"showed no progress for {silence:.0f} s (printed nothing, or only "
                    "retries: is its model API reachable? see tool.err); stopped it"
                )
            if why is not None:
                kill_group(tool.pid, signal.SIGKILL)
                return why


class _Progress:
    """New output of a running tool, read as it grows: whether any new line shows it at
    work (a line still being written counts as work)."""

    def __init__(self, fds: tuple[int, ...], adapter: Adapter) -> None:
        self.fds, self.adapter = fds, adapter
        self.offsets = [0] * len(fds)
        self.partial = [b""] * len(fds)

    def progressed(self) -> bool:
        moved = False
        for i, fd in enumerate(self.fds):
            try:
                new = os.pread(fd, 1 << 20, self.offsets[i])
            except OSError:
                continue
            if not new:
                continue
            self.offsets[i] += len(new)
            *lines, rest = (self.partial[i] + new).split(b"\n")
            grew = len(rest) > len(self.partial[i]) if not lines else bool(rest)
            self.partial[i] = rest[-65536:]
            text = (ln.decode(errors="replace").strip() for ln in lines)
            if grew or any(ln and self.adapter.is_progress(ln) for ln in text):
                moved = True
        return moved


TAIL_BYTES = 8 << 20  # what of a tool's output is read back for its usage: the end


def _tail(fd: int) -> str:
    size = os.fstat(fd).st_size
    start = max(0, size - TAIL_BYTES)
    return os.pread(fd, size - start, start).decode("utf-8", "replace")


def tool_mounts(prep: jobs.Prepared, home: Path | None = None) -> sandbox.Mounts:
    """What the tool sees: the job's folders, and its family's tool home as HOME."""
    m = prep.mounts
    return sandbox.Mounts(writable=m.writable, hidden=m.hidden, readable=m.readable,
                          pinned=m.pinned, home_dir=home, network=True)  # fmt: skip


def _own_git_index(layout: Layout, job_dir: Path) -> dict[str, str]:
    """A tool that stages files itself gets a copy of the worktree's index and an object
    folder in its job folder; the worktree's objects stay readable as alternates. The
    runner's own git never reads these."""
    scratch = job_dir / "git"
    (scratch / "objects").mkdir(parents=True, exist_ok=True)
    index = layout.git_dir / "index"
    if index.is_file() and not index.is_symlink():
        shutil.copyfile(index, scratch / "index")
    return {
        "GIT_INDEX_FILE": str(scratch / "index"),
        "GIT_OBJECT_DIRECTORY": str(scratch / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(layout.common_dir / "objects"),
    }


def _remove(path: Path) -> None:
    """Remove what a tool left for itself in its working folder, never following a link
    (rmtree works through file descriptors, so a swapped link cannot redirect it)."""
    with contextlib.suppress(OSError):
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)


class _ToolBroken(AinarresError):
    def __init__(self, failures: int) -> None:
        super().__init__(f"the tool failed {failures} times in a row; stopping this agent so it "
                         "does not take every task in turn: check the tool (see the job "
                         "folders' tool.err)")  # fmt: skip


def _check_visible(command: str, env: dict[str, str], mounts: sandbox.Mounts) -> None:
    """Refuse a tool the sandbox would not show (installed under $HOME or /tmp, say)."""
    found = shutil.which(command, path=env.get("PATH"))
    if found is None:
        raise BadInput(f"the tool {command!r} is not on PATH; install it or set its command")
    if not sandbox.visible(Path(found), mounts):
        raise BadInput(
            f"the tool {command!r} is at {Path(found).resolve()}, which the sandbox does not "
            "show; install it system-wide (/usr) or list its folder in read_only_paths in "
            "ainarres.toml"
        )


class _Heartbeat(threading.Thread):
    """Extends the lease while the job runs, on a connection of its own (reconnecting when
    the board comes back); if the lease is lost, stops the tool so nothing is pushed under
    a stale claim."""

    def __init__(self, settings: Settings, agent: Agent, claim: jobs.Claimed,
                 runner: Runner) -> None:  # fmt: skip
        super().__init__(daemon=True, name=f"heartbeat-{claim.task.short_id}")
        self.settings, self.agent, self.claim, self.runner = settings, agent, claim, runner
        self.lost = False
        self._stop_event = threading.Event()
        lease = (claim.task.lease_expires_at.timestamp() - time.time()
                 if claim.task.lease_expires_at else 60.0)  # fmt: skip
        self.interval = max(0.5, min(30.0, lease / 3))

    def _beat(self, conn: Connection) -> Outcome:
        beat = Agent(conn, self.agent.id, self.agent.name, self.agent.family)
        return beat.heartbeat(self.claim.task.id, self.claim.epoch)

    def run(self) -> None:
        info = family_conninfo(self.settings, self.agent.family)
        conn: Connection | None = None
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    conn = conn or open_connection(info)
                    out = self._beat(conn)
                except BoardLost:
                    if conn is not None:
                        conn.close()
                    conn = None  # the board is away: try again at the next beat
                    continue
                if out.outcome == "lease_lost":
                    self.lost = True
                    tool = self.runner.tool
                    if tool is not None and tool.poll() is None:
                        kill_group(tool.pid, signal.SIGTERM)
                    return
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)


def main_log(line: str) -> None:
    """Progress lines, flushed at once (the swarm interleaves several agents' output)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
