"""`ainarres swarm`: the configured agents as separate processes on this machine.

Each family gets `instances` processes of `ainarres agent run`; they share nothing but the
board and the hub. A stop (SIGTERM, Ctrl-C, or `stop()`) reaches every one of them, and
each releases its task before it exits.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from ainarres.agents.config import ProjectConfig
from ainarres.config import Settings


def agent_names(config: ProjectConfig) -> list[tuple[str, str]]:
    """(family, agent name) for every process the swarm starts."""
    return [(family, f"{family}-{i + 1}")
            for family, cfg in config.families.items() for i in range(cfg.instances)]  # fmt: skip


class Swarm:
    def __init__(self, settings: Settings, config_path: Path, config: ProjectConfig, *,
                 sandbox: bool = True, until_idle: float | None = None,
                 env: Mapping[str, str] | None = None,
                 log: Callable[[str], None] = print) -> None:  # fmt: skip
        self.settings, self.config_path, self.config = settings, config_path, config
        self.sandbox, self.until_idle, self.env, self.log = sandbox, until_idle, env, log
        self.procs: list[tuple[str, subprocess.Popen[str]]] = []
        self.relays: list[threading.Thread] = []

    def _argv(self, family: str, name: str) -> list[str]:
        argv = [sys.executable, "-m", "ainarres", "--state-dir", str(self.settings.state_dir)]
        if self.settings.database_url:
            argv += ["--database-url", self.settings.database_url]
        argv += ["agent", "run", "--family", family, "--agent", name,
                 "--config", str(self.config_path)]  # fmt: skip
        if not self.sandbox:
            argv.append("--no-sandbox")
        if self.until_idle is not None:
            argv += ["--until-idle", str(self.until_idle)]
        return argv

    def start(self) -> None:
        for family, name in agent_names(self.config):
            proc = subprocess.Popen(self._argv(family, name), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, env=self.env)  # fmt: skip
            self.procs.append((name, proc))
            relay = threading.Thread(target=self._relay, args=(proc,), daemon=True)
            relay.start()
            self.relays.append(relay)
        self.log(f"swarm: started {len(self.procs)} agent process(es)")

    def _relay(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.log(line.rstrip("\n"))

    def running(self) -> bool:
        """Whether any agent process is still alive."""
        return any(proc.poll() is None for _, proc in self.procs)

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM every agent, wait for them to release their tasks; their exit codes."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> dict[str, int]:
        codes = {}
        for name, proc in self.procs:
            try:
                codes[name] = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        for relay in self.relays:
            relay.join(timeout=5)  # the last lines, and the pipes closed
        return codes
