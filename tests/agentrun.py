"""Shared test helpers: a family config driving a scripted tool, and real `ainarres agent
run` processes against a test's board (named apart from conftest, like boardenv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from boardenv import BoardEnv


def script_config(
    tmp_path: Path,
    families: dict[str, str],
    tool: str,
    *,
    args: tuple[str, ...] = (),
    env: tuple[str, ...] = (),
    maker: str | None = None,
) -> Path:
    """ainarres.toml with each family (name -> role) driven by the Python `tool` source
    through the script adapter. The tool lives under the test's /tmp folder, which the
    sandbox hides unless a family lists it, as a person would: read_only_paths."""
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    (tools / "tool.py").write_text(tool)
    command = json.dumps([sys.executable, str(tools / "tool.py"), *args])
    lines = []
    for name, role in families.items():
        lines += [
            f'[families."{name}"]',
            'adapter = "script"',
            'model = "m"',
            f'roles = ["{role}"]',
            f"command = {command}",
            f"env = {json.dumps(list(env))}",
            f"read_only_paths = [{json.dumps(str(tools))}]",
        ]
        lines += [f'maker = "{maker}"'] if maker else []
        lines.append("")
    path = tmp_path / "ainarres.toml"
    path.write_text("\n".join(lines))
    return path


def agent_argv(board: BoardEnv, cfg: Path, family: str, *args: str,
               env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """The command line and environment of `ainarres agent run` against the board."""
    full = {
        **os.environ,
        "AINARRES_HOME": str(board.settings.state_dir),
        "AINARRES_DATABASE_URL": board.url,
        **(env or {}),
    }
    argv = [sys.executable, "-m", "ainarres", "agent", "run", "--family", family,
            "--config", str(cfg), *args]  # fmt: skip
    return argv, full


def run_agent(
    board: BoardEnv,
    cfg: Path,
    family: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """`ainarres agent run --family F --config CFG ARGS` against the board, to its end."""
    argv, full = agent_argv(board, cfg, family, *args, env=env)
    return subprocess.run(argv, env=full, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip
