"""Helpers for the tests of the real agent tools: where .ci/run installed them, the
family config that drives them, and `ainarres agent run` / `agent check` as processes.

.ci/run installs each tool from its registry at a pinned version range into
$AINARRES_TOOLS_DIR (default /opt/ainarres-tools): npm packages under npm/, aider in a
venv of its own under aider/. A tool that is not there (the registry lacked it, or its
install failed: .ci/run leaves the reason in status/<package>.txt) is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from boardenv import rows
from scenario import Project

TOOLS_DIR = Path(os.environ.get("AINARRES_TOOLS_DIR", "/opt/ainarres-tools"))
BIN_DIRS = (TOOLS_DIR / "npm" / "bin", TOOLS_DIR / "aider" / "bin")


def tool_path() -> str:
    """PATH with the installed tools first."""
    return os.pathsep.join([*(str(d) for d in BIN_DIRS), os.environ.get("PATH", "")])


def require(binary: str, package: str) -> Path:
    """The installed tool, or skip the test saying why it is not there."""
    for folder in BIN_DIRS:
        if (folder / binary).exists():
            return folder / binary
    status = TOOLS_DIR / "status" / f"{package.replace('/', '_')}.txt"
    why = status.read_text().strip()[-400:] if status.exists() else "not installed"
    pytest.skip(f"{binary} ({package}) is not in {TOOLS_DIR}: {why}; .ci/run installs it")


def write_config(tmp_path: Path, families: dict[str, dict[str, Any]]) -> Path:
    """ainarres.toml with one [families."NAME"] table per entry."""
    lines = []
    for name, fields in families.items():
        lines.append(f'[families."{name}"]')
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
        lines.append("")
    path = tmp_path / "ainarres.toml"
    path.write_text("\n".join(lines))
    return path


def ainarres(
    proj: Project,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """`ainarres ARGS` as a process against the test's board and state dir."""
    full = {
        **os.environ,
        "AINARRES_HOME": str(proj.board.settings.state_dir),
        "AINARRES_DATABASE_URL": proj.board.url,
        "PATH": tool_path(),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "ainarres", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_agent(
    proj: Project, cfg: Path, family: str, env: dict[str, str] | None = None, tasks: int = 1
) -> subprocess.CompletedProcess[str]:
    return ainarres(
        proj,
        "agent",
        "run",
        "--family",
        family,
        "--config",
        str(cfg),
        "--max-tasks",
        str(tasks),
        "--until-idle",
        "2",
        env=env,
    )


def stage(proj: Project, task: object) -> str:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s "
            "ON s.id = t.stage_id WHERE t.id = %s",
            task,
        )
    return str(got[0]["name"])


def events(proj: Project, task: object, kind: str) -> list[dict[str, Any]]:
    with proj.board.operator() as conn:
        return rows(
            conn,
            "SELECT e.data, e.from_stage, f.name AS family FROM ainarres.events e "
            "LEFT JOIN ainarres.families f ON f.id = e.family_id "
            "WHERE e.task_id = %s AND e.kind = %s ORDER BY e.id",
            task,
            kind,
        )
