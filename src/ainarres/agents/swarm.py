"""`ainarres swarm`: the configured agents as separate processes on this machine.

Each family gets `instances` processes of `ainarres agent run`; they share nothing but the
board and the hub. An agent that dies (killed, crashed, the board gone too long) is started
again under the same name after a pause that grows with each death, so its held task is
released at once by the new run; one that stops cleanly (idle) is not. A stop (SIGTERM,
Ctrl-C, or `stop()`) reaches every one of them, and each releases its task before it exits.

Given the hub's folder (`gate`), the swarm also keeps the hub's resident gate running
(`ainarres hub gate`, ADR 0020) while its agents work, restarted when it dies and stopped
with them, unless a gate already serves that hub (a supervisor's).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ainarres.agents.config import ProjectConfig
from ainarres.config import Settings

MAX_RESTARTS = 20
BACKOFF_MAX = 30.0


def agent_names(config: ProjectConfig) -> list[tuple[str, str]]:
    """(family, agent name) for every process the swarm starts."""
    return [(family, f"{family}-{i + 1}")
            for family, cfg in config.families.items() for i in range(cfg.instances)]  # fmt: skip


@dataclass
class _Member:
    family: str
    name: str
    proc: subprocess.Popen[str]
    argv: list[str]
    deaths: int = 0
    restart_at: float | None = None
    relays: list[threading.Thread] = field(default_factory=list)


class Swarm:
    def __init__(self, settings: Settings, config_path: Path, config: ProjectConfig, *,
                 sandbox: bool = True, until_idle: float | None = None,
                 env: Mapping[str, str] | None = None, gate: Path | None = None,
                 log: Callable[[str], None] = print) -> None:  # fmt: skip
        self.settings, self.config_path, self.config = settings, config_path, config
        self.sandbox, self.until_idle, self.env, self.log = sandbox, until_idle, env, log
        self.gate_hub = gate
        self.members: list[_Member] = []  # the agents
        self.gate: _Member | None = None  # the hub's resident gate, when this swarm runs it
        self.stopping = False

    @property
    def procs(self) -> list[tuple[str, subprocess.Popen[str]]]:
        return [(m.name, m.proc) for m in self.members]

    def _ainarres(self) -> list[str]:
        argv = [sys.executable, "-m", "ainarres", "--state-dir", str(self.settings.state_dir)]
        if self.settings.database_url:
            argv += ["--database-url", self.settings.database_url]
        return argv

    def _argv(self, family: str, name: str) -> list[str]:
        argv = [*self._ainarres(), "agent", "run", "--family", family, "--agent", name,
                "--config", str(self.config_path)]  # fmt: skip
        if not self.sandbox:
            argv.append("--no-sandbox")
        if self.until_idle is not None:
            argv += ["--until-idle", str(self.until_idle)]
        return argv

    def _spawn(self, argv: list[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env)  # fmt: skip
        return proc

    def _relay_for(self, member: _Member) -> None:
        relay = threading.Thread(target=self._relay, args=(member.proc,), daemon=True)
        relay.start()
        member.relays.append(relay)

    def start(self) -> None:
        self._start_gate()
        for family, name in agent_names(self.config):
            argv = self._argv(family, name)
            member = _Member(family, name, self._spawn(argv), argv)
            self._relay_for(member)
            self.members.append(member)
        self.log(f"swarm: started {len(self.members)} agent process(es)")

    def _start_gate(self) -> None:
        if self.gate_hub is None:
            return
        from ainarres.gate import resident

        why = resident.why_not_served(self.gate_hub)
        if why is not None:
            self.log(f"swarm: not starting the hub's resident gate: {why}")
            return
        argv = [*self._ainarres(), "hub", "gate", str(self.gate_hub)]
        self.gate = _Member("gate", "gate", self._spawn(argv), argv)
        self._relay_for(self.gate)

    def _relay(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.log(line.rstrip("\n"))

    def running(self) -> bool:
        """Whether any agent process is alive or about to be started again."""
        return any(m.proc.poll() is None or m.restart_at is not None for m in self.members)

    def tend(self) -> None:
        """Start again the agents (and the gate) that died, not those that stopped cleanly."""
        now = time.monotonic()
        for m in [*self.members, *([self.gate] if self.gate is not None else [])]:
            code = m.proc.poll()
            if self.stopping or code is None:
                continue
            if m.restart_at is None:
                if code == 0 or m.deaths >= MAX_RESTARTS:
                    continue
                m.deaths += 1
                pause = min(BACKOFF_MAX, 0.5 * 2 ** (m.deaths - 1))
                m.restart_at = now + pause
                self.log(f"swarm: {m.name} died (exit {code}); starting it again in {pause:.1f} s")
            elif now >= m.restart_at:
                m.restart_at = None
                m.proc = self._spawn(m.argv)
                self._relay_for(m)

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM every agent, wait for them to release their tasks; their exit codes."""
        self.stopping = True
        for m in self.members:
            m.restart_at = None
            if m.proc.poll() is None:
                m.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> dict[str, int]:
        """Wait for every agent to stop for good (tending the ones that die meanwhile)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running() and (deadline is None or time.monotonic() < deadline):
            self.tend()
            time.sleep(0.1)
        codes = {}
        for m in self.members:
            m.restart_at = None
            if m.proc.poll() is None:
                m.proc.kill()
            codes[m.name] = m.proc.wait()
            for relay in m.relays:
                relay.join(timeout=5)  # the last lines, and the pipes closed
        self._stop_gate()
        return codes

    def _stop_gate(self) -> None:
        """The agents are gone: so goes the gate (pushes meanwhile would be judged by the
        hook itself, as slowly and as strictly as without it)."""
        gate, self.gate = self.gate, None
        if gate is None:
            return
        gate.restart_at = None
        if gate.proc.poll() is None:
            gate.proc.send_signal(signal.SIGTERM)
            try:
                gate.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gate.proc.kill()
                gate.proc.wait()
        for relay in gate.relays:
            relay.join(timeout=5)
