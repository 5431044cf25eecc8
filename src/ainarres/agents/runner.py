"""`ainarres agent run`: one agent of one family, looping until stopped.

next --wait -> prepare the job -> run the tool (sandboxed, heartbeating) -> finish the job
(commit+push+done, annotate+verdict, or create tasks+done) -> again.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from uuid import UUID

from ainarres.agents import jobs, sandbox
from ainarres.agents.adapters import get_adapter
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage
from ainarres.agents.config import FamilyConfig
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput, BoardLost
from ainarres.git.cache import Busy, exclusive
from ainarres.git.trusted import LayoutChanged
from ainarres.git.worktree import sweep_scratch
from ainarres.models import Outcome
from ainarres.store import Store

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
            _kill_group(self.tool, signal.SIGTERM)
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

    def _loop(self) -> int:
        roles = list(self.options.config.roles)
        done = 0
        denied_said = False
        idle_since = time.monotonic()
        agent = self._start(self._connect())
        self._release_held(agent)
        self.log(f"{agent.name}: ready as {'/'.join(roles)}"
                 f"{'' if self.sandboxed else ' (unsandboxed)'}")  # fmt: skip
        try:
            while not self.stopping:
                self.waiting = True
                try:
                    out = agent.wait_for_claim(
                        self._wait_timeout(idle_since),
                        self.options.poll,
                        role=roles,
                        lease_seconds=RUNNER_LEASE,
                    )
                except BoardLost as exc:
                    self.waiting = False
                    agent.conn.close()
                    self.log(f"{agent.name}: lost the board ({exc.message}); reconnecting")
                    agent = self._start(self._connect())
                    continue
                finally:
                    self.waiting = False
                if out.outcome == "empty":
                    if self._idle_too_long(idle_since):
                        self.log(f"{agent.name}: idle, stopping")
                        break
                    continue
                if out.outcome == "not_allowed":
                    # A denial heals by itself (governance) or by a person's lift: wait.
                    if not denied_said:
                        self.log(f"{agent.name}: {out.message}; waiting until it may work")
                        denied_said = True
                    self._sleep(self.options.poll)
                    continue
                denied_said = False
                if not out.ok or out.task is None or out.epoch is None or out.role is None:
                    raise AinarresError(out.message)
                claim = jobs.Claimed(out.task, out.epoch, out.role)  # type: ignore[arg-type]
                agent = self._work(agent, claim)
                done += 1
                idle_since = time.monotonic()
                if self.options.max_tasks is not None and done >= self.options.max_tasks:
                    break
        finally:
            agent.conn.close()
        return 0

    def _release_held(self, agent: Agent) -> None:
        """A restarted agent lets go at once of what its earlier run still held: the work
        it pushed is on the task branch, and the next claimer starts from there."""
        held = agent.resume().held or []
        for item in held:
            out = agent.release(UUID(str(item["task"]["id"])), int(item["epoch"]))
            self.log(f"{agent.name}: released {item['task']['short_id']}, held by an earlier "
                     f"run of this agent ({out.outcome})")  # fmt: skip

    def _wait_timeout(self, idle_since: float) -> float | None:
        if self.options.until_idle is None:
            return None
        return max(0.1, self.options.until_idle - (time.monotonic() - idle_since))

    def _idle_too_long(self, idle_since: float) -> bool:
        limit = self.options.until_idle
        return limit is not None and time.monotonic() - idle_since >= limit

    # -- one job -------------------------------------------------------------------------

    def _work(self, agent: Agent, claim: jobs.Claimed) -> Agent:
        """Do one claimed job; whatever happens, the task is not left held. Returns the
        agent to go on with (on a new connection if the board went away meanwhile)."""
        t = claim.task
        self.log(f"{agent.name}: claimed {t.short_id} [{t.stage}] as {claim.role}: {t.title}")
        beat = _Heartbeat(self.settings, agent, claim, self)
        beat.start()
        try:
            self._job(agent, claim, beat)
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
        except AinarresError as exc:
            self._give_up(agent, claim, f"the job failed: {exc.message}")
        except Exception as exc:  # the task must not wait a whole lease for a bug
            self._give_up(agent, claim, f"the job failed: {type(exc).__name__}: {exc}")
        finally:
            beat.stop()
        return agent

    def _job(self, agent: Agent, claim: jobs.Claimed, beat: _Heartbeat) -> None:
        t = claim.task
        with jobs.prepared(self.settings, agent, claim,
                           log=lambda line: self.log(f"{agent.name}: {line}"),
                           extra_readable=self.options.config.read_only_paths) as prep:  # fmt: skip
            if self.stopping:
                self._let_go(agent, claim, False)
                return
            started = time.monotonic()
            code, usage = self._run_tool(prep)
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
            if code != 0:
                self.failures += 1
                self._give_up(agent, claim, f"the {self.options.config.adapter} tool exited "
                              f"{code}; see {prep.job.job_dir}")  # fmt: skip
                if self.failures >= MAX_TOOL_FAILURES:
                    raise _ToolBroken(self.failures)
                return
            self.failures = 0
            fin = jobs.finish(self.settings, agent, claim, prep)
            self.log(f"{agent.name}: {t.short_id} {fin.outcome.outcome}: {fin.outcome.message}")
            if fin.warning:
                self.log(f"{agent.name}: {t.short_id}: {fin.warning}")

    def _give_up(self, agent: Agent, claim: jobs.Claimed, why: str, block: bool = False) -> None:
        """Let the task go now, saying why in its log: released for the next claimer, or
        blocked for a person when the tool attacked its worktree."""
        t = claim.task
        why = why[:3900]

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

    def _run_tool(self, prep: jobs.Prepared) -> tuple[int, Usage]:
        job = prep.job
        inv = self.adapter.build(job)
        extra = {**inv.env, "AINARRES_JOB_DIR": str(job.job_dir), "AINARRES_ROLE": job.role}
        passthrough = (*self.adapter.passthrough_env, *self.options.config.env)
        env = sandbox.tool_env(passthrough, extra)
        argv = list(inv.argv)
        if self.sandboxed:
            mounts = tool_mounts(prep, self.adapter)
            _check_visible(argv[0], env, mounts)
            argv = sandbox.wrap(argv, mounts, inv.cwd, env)
        return self._spawn(argv, inv, job, env)

    def _spawn(self, argv: list[str], inv: Invocation, job: Job,
               env: dict[str, str]) -> tuple[int, Usage]:  # fmt: skip
        out_path, err_path = job.job_dir / "tool.out", job.job_dir / "tool.err"
        # Under bwrap the tool's environment is set inside (--clearenv --setenv ...); bwrap
        # itself needs only a PATH.
        outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed else env
        stdin = subprocess.PIPE if inv.stdin else subprocess.DEVNULL
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
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
                code = self.tool.wait(timeout=inv.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.tool, signal.SIGKILL)
                code = self.tool.wait()
                err.write(f"\nainarres: the tool ran past its {inv.timeout:.0f} s timeout\n"
                          .encode())  # fmt: skip
            finally:
                self.tool = None
        stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        return code, self.adapter.usage(stdout, stderr)


def tool_mounts(prep: jobs.Prepared, adapter: Adapter) -> sandbox.Mounts:
    """What the tool sees: the job's folders, and the tool's own config folders under its
    home (each that exists in the person's home)."""
    home = Path(os.path.expanduser("~"))
    binds = tuple((home / rel, rel) for rel in adapter.home_paths if (home / rel).exists())
    m = prep.mounts
    return sandbox.Mounts(writable=m.writable, hidden=m.hidden, readable=m.readable,
                          pinned=m.pinned, home=binds, network=True)  # fmt: skip


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


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


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
                        _kill_group(tool, signal.SIGTERM)
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
