"""`ainarres agent run`: one agent of one family, looping until stopped.

next --wait -> prepare the job -> run the tool (sandboxed, heartbeating) -> finish the job
(commit+push+done, annotate+verdict, or create tasks+done) -> again. SIGTERM or Ctrl-C
stops the tool, releases the task and exits 0. A crash leaves the task held until its
lease expires; the next claimer takes it. The runner never holds the integrator's key:
it only claims the roles its config asks for, and config cannot ask for integrator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ainarres import project
from ainarres.agents import jobs, sandbox
from ainarres.agents.adapters import get_adapter
from ainarres.agents.adapters.base import Adapter, Job, Usage
from ainarres.agents.config import FamilyConfig
from ainarres.board.db import family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput


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

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped (or idle for `until_idle`); 0 on a clean stop."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        roles = list(self.options.config.roles)
        done = 0
        with open_connection(family_conninfo(self.settings, self.options.family)) as conn:
            agent = Agent.start(conn, self.options.agent)
            agent.mark_sandboxed(self.sandboxed)
            self.log(
                f"{agent.name}: ready as {'/'.join(roles)}"
                f"{'' if self.sandboxed else ' (unsandboxed)'}"
            )
            idle_since = time.monotonic()
            while not self.stopping:
                self.waiting = True
                try:
                    out = agent.wait_for_claim(self._wait_timeout(idle_since), self.options.poll,
                                               role=roles)  # fmt: skip
                except _Stop:
                    break
                finally:
                    self.waiting = False
                if out.outcome == "empty":
                    if self._idle_too_long(idle_since):
                        self.log(f"{agent.name}: idle, stopping")
                        break
                    continue
                if not out.ok or out.task is None or out.epoch is None or out.role is None:
                    raise AinarresError(out.message)
                claim = jobs.Claimed(out.task, out.epoch, out.role)  # type: ignore[arg-type]
                self._work(agent, claim)
                done += 1
                idle_since = time.monotonic()
                if self.options.max_tasks is not None and done >= self.options.max_tasks:
                    break
        return 0

    def _wait_timeout(self, idle_since: float) -> float | None:
        if self.options.until_idle is None:
            return None
        return max(0.1, self.options.until_idle - (time.monotonic() - idle_since))

    def _idle_too_long(self, idle_since: float) -> bool:
        limit = self.options.until_idle
        return limit is not None and time.monotonic() - idle_since >= limit

    def _work(self, agent: Agent, claim: jobs.Claimed) -> None:
        t = claim.task
        self.log(f"{agent.name}: claimed {t.short_id} [{t.stage}] as {claim.role}: {t.title}")
        beat = _Heartbeat(self.settings, agent, claim, self)
        beat.start()
        try:
            with jobs.prepared(self.settings, agent, claim) as job:
                started = time.monotonic()
                code, usage = self._run_tool(job)
                seconds = time.monotonic() - started
                # The tool is done: no more beats, so none can wait on a row lock the
                # finishing transaction holds (a designer's inserts lock its brief).
                beat.stop()
                if self.stopping or beat.lost:
                    self._let_go(agent, claim, beat.lost)
                    return
                agent.record_usage(t.id, claim.epoch, usage.tokens, usage.cost_usd, seconds)
                if code != 0:
                    agent.block(t.id, claim.epoch, f"the {self.options.config.adapter} tool "
                                f"exited {code}; see {job.job_dir}")  # fmt: skip
                    self.log(f"{agent.name}: {t.short_id} blocked: tool exited {code}")
                    return
                try:
                    out = jobs.finish(self.settings, agent, claim, job)
                except BadInput as exc:
                    agent.block(t.id, claim.epoch, f"the tool's result was unusable: {exc}")
                    self.log(f"{agent.name}: {t.short_id} blocked: {exc}")
                    return
                self.log(f"{agent.name}: {t.short_id} {out.outcome}: {out.message}")
                if out.ok and claim.role == "reviewer":
                    self._mirror_verdict(agent, claim, job)
        finally:
            beat.stop()

    def _mirror_verdict(self, agent: Agent, claim: jobs.Claimed, job: Job) -> None:
        """The verdict and annotations, appended to the reviewed commit's git note."""
        from ainarres.review import service

        if claim.task.head_commit is None:
            return
        result = jobs.read_result(job)
        lines = [
            service.note_line(
                str(result["verdict"]), agent.family, claim.task, str(result.get("reason") or "")
            )
        ]
        lines += [
            service.note_line(
                "annotate",
                agent.family,
                claim.task,
                f"{a.get('file')}:{a.get('line')} ({a.get('side', 'new')}) "
                f"[{a.get('severity', 'minor')}] {a.get('body')}",
            )
            for a in result.get("annotations") or []
            if isinstance(a, dict)
        ]
        why = service.mirror_note(
            self.settings,
            agent.family,
            f"{agent.family}/{agent.name}",
            claim.task.head_commit,
            "\n".join(lines),
        )
        if why:
            self.log(f"{agent.name}: review note not mirrored: {why}")

    def _let_go(self, agent: Agent, claim: jobs.Claimed, lost: bool) -> None:
        if lost:
            self.log(f"{agent.name}: lost the lease on {claim.task.short_id}; dropped the work")
            return
        agent.release(claim.task.id, claim.epoch)
        self.log(f"{agent.name}: stopped; released {claim.task.short_id}")

    def _run_tool(self, job: Job) -> tuple[int, Usage]:
        inv = self.adapter.build(job)
        extra = {**inv.env, "AINARRES_JOB_DIR": str(job.job_dir), "AINARRES_ROLE": job.role}
        passthrough = (*self.adapter.passthrough_env, *self.options.config.env)
        env = sandbox.tool_env(passthrough, extra)
        argv = list(inv.argv)
        if self.sandboxed:
            mounts = tool_mounts(self.settings, job.job_dir, job.workdir)
            argv = sandbox.wrap(argv, mounts, inv.cwd, env)
        out_path, err_path = job.job_dir / "tool.out", job.job_dir / "tool.err"
        # Under bwrap the tool's environment is set inside (--clearenv --setenv ...); bwrap
        # itself needs only a PATH.
        outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed else env
        stdin = subprocess.PIPE if inv.stdin else subprocess.DEVNULL
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            self.tool = subprocess.Popen(
                argv,
                cwd=inv.cwd,
                env=outer_env,
                stdin=stdin,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
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


def tool_mounts(settings: Settings, job_dir: Path, workdir: Path) -> sandbox.Mounts:
    """What a tool sees of this machine's ainarres: its job folder and working folder,
    writable; the git data of that folder, read-only; the state directory and the hub not
    at all.

    The git data is read-only on purpose (ADR 0008): the runner runs git in that repository
    outside the sandbox, so a hook, an fsmonitor or a filter the tool wrote into its config
    would run unsandboxed. The tool reads history; the runner commits its changes."""
    readable = []
    git_dir = _git_common_dir(workdir)
    if git_dir is not None:
        readable.append(git_dir)
    hidden = [settings.state_dir]
    hub = project.configured_hub(settings)
    if hub is not None:
        hidden.append(hub)
    return sandbox.Mounts(
        writable=(job_dir, workdir), hidden=tuple(hidden), readable=tuple(readable)
    )


def _git_common_dir(workdir: Path) -> Path | None:
    done = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=workdir,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return None
    path = Path(done.stdout.strip())
    return path if path.is_absolute() else (workdir / path).resolve()


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class _Heartbeat(threading.Thread):
    """Extends the lease while the tool works, on a connection of its own; if the lease is
    lost, stops the tool so nothing is pushed under a stale claim."""

    def __init__(self, settings: Settings, agent: Agent, claim: jobs.Claimed,
                 runner: Runner) -> None:  # fmt: skip
        super().__init__(daemon=True, name=f"heartbeat-{claim.task.short_id}")
        self.settings, self.agent, self.claim, self.runner = settings, agent, claim, runner
        self.lost = False
        self._stop_event = threading.Event()
        lease = (claim.task.lease_expires_at.timestamp() - time.time()
                 if claim.task.lease_expires_at else 60.0)  # fmt: skip
        self.interval = max(0.5, min(30.0, lease / 3))

    def run(self) -> None:
        info = family_conninfo(self.settings, self.agent.family)
        with open_connection(info) as conn:
            beat = Agent(conn, self.agent.id, self.agent.name, self.agent.family)
            while not self._stop_event.wait(self.interval):
                out = beat.heartbeat(self.claim.task.id, self.claim.epoch)
                if out.outcome == "lease_lost":
                    self.lost = True
                    tool = self.runner.tool
                    if tool is not None and tool.poll() is None:
                        _kill_group(tool, signal.SIGTERM)
                    return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def main_log(line: str) -> None:
    """Progress lines, flushed at once (the swarm interleaves several agents' output)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
