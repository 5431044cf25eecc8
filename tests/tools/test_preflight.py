"""The preflight (`ainarres agent check`, and `agent run` and `swarm` at start) says plainly
why a family's tool cannot work here, and a runner that cannot work takes no task.

Stand-in programs play a tool where the point is what the preflight reads of it (a version,
a --help); the real tools, where installed, show the good case."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, REVIEWER, Project
from standin import StandIn
from toolbox import TOOLS_DIR, ainarres, events, require, stage, write_config

from ainarres.agents import sandbox, toolhome

pytestmark = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no sandbox here: {sandbox.unavailable_reason()}",
)


def _program(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _claude_family(tmp_path: Path, **fields: object) -> Path:
    family = {
        "adapter": "claude-code",
        "model": "sonnet",
        "roles": ["implementer"],
        "env": ["ANTHROPIC_BASE_URL"],
        **fields,
    }
    return write_config(tmp_path, {IMPLEMENTER: family})


def _check(proj: Project, cfg: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    done = ainarres(
        proj, "agent", "check", "--family", IMPLEMENTER, "--config", str(cfg), *extra, env=env
    )
    out = done.stdout + done.stderr
    assert done.returncode == (0 if ": ok: " in done.stdout else 1), out
    return out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_tool_that_is_not_installed(proj: Project, tmp_path: Path) -> None:
    cfg = _claude_family(tmp_path, command=["claude-not-installed-here"])
    out = _check(proj, cfg)
    assert "the claude-code tool 'claude-not-installed-here' is not installed" in out
    assert "npm install -g @anthropic-ai/claude-code" in out


def test_a_tool_under_tmp_is_hidden_from_the_sandbox(proj: Project, tmp_path: Path) -> None:
    fake = _program(tmp_path / "npm" / "bin", "claude", 'echo "2.1.197 (Claude Code)"\n')
    out = _check(proj, _claude_family(tmp_path, command=[str(fake)]))
    assert f"{fake} (the tool) is hidden from the sandbox (it lives under /tmp" in out
    assert "read_only_paths" in out
    # listed, it shows
    cfg = _claude_family(tmp_path, command=[str(fake)], read_only_paths=[str(fake.parent)])
    out = _check(proj, cfg, env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": _listening()})
    assert ": ok: " in out and "version 2.1.197" in out, out


_LISTENERS: list[socket.socket] = []


def _listening() -> str:
    """A port something listens on (kept open for the session): the model API is
    reachable, for checks that are about something else."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    _LISTENERS.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_version_ainarres_does_not_drive(proj: Project, tmp_path: Path) -> None:
    fake = _program(tmp_path / "old", "claude", 'echo "1.0.3 (Claude Code)"\n')
    cfg = _claude_family(tmp_path, command=[str(fake)], read_only_paths=[str(fake.parent)])
    out = _check(proj, cfg, env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": _listening()})
    assert "claude 1.0.3 is not a version ainarres drives (2.0 up to, not including, 3.0)" in out


GROK_BUILD_HELP = """\
Usage: grok [OPTIONS] [PROMPT]
  -p, --single <PROMPT>       Run a single prompt and exit
      --output-format <FMT>   text, json, stream-json
      --always-approve        Approve every tool call
"""


def test_the_wrong_grok(proj: Project, tmp_path: Path) -> None:
    fake = _program(tmp_path / "xai", "grok", f"cat <<'EOF'\n{GROK_BUILD_HELP}EOF\n")
    family = {
        "adapter": "grok",
        "model": "grok-code-fast-1",
        "roles": ["implementer"],
        "command": [str(fake)],
        "read_only_paths": [str(fake.parent)],
    }
    cfg = write_config(tmp_path, {IMPLEMENTER: family})
    out = _check(proj, cfg, env={"GROK_API_KEY": "k", "GROK_BASE_URL": _listening()})
    assert "the installed " in out and "is not the tool the grok adapter drives" in out
    assert "xAI's Grok Build CLI" in out and "@vibe-kit/grok-cli@0.0.34" in out


def test_the_real_grok_is_the_right_one(proj: Project, tmp_path: Path) -> None:
    require("grok", "@vibe-kit/grok-cli")
    family = {
        "adapter": "grok",
        "model": "grok-code-fast-1",
        "roles": ["implementer"],
        "read_only_paths": [str(TOOLS_DIR)],
    }
    cfg = write_config(tmp_path, {IMPLEMENTER: family})
    out = _check(proj, cfg, env={"GROK_API_KEY": "k", "GROK_BASE_URL": _listening()})
    assert ": ok: " in out, out


def test_no_key_and_no_network(proj: Project, tmp_path: Path) -> None:
    require("claude", "@anthropic-ai/claude-code")
    cfg = _claude_family(tmp_path, read_only_paths=[str(TOOLS_DIR)])
    closed = f"http://127.0.0.1:{_closed_port()}"
    out = _check(proj, cfg, env={"ANTHROPIC_BASE_URL": closed, "ANTHROPIC_API_KEY": ""})
    assert "no API key: set one of ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN" in out
    assert f"ainarres agent login --family {IMPLEMENTER}" in out
    assert (
        f"no network to the model API 127.0.0.1:{closed.rsplit(':', 1)[1]} from the sandbox" in out
    )
    assert "ANTHROPIC_BASE_URL" in out


def test_a_login_in_the_tool_home_stands_for_a_key(proj: Project, tmp_path: Path) -> None:
    require("claude", "@anthropic-ai/claude-code")
    api = StandIn().start()
    try:
        cfg = _claude_family(tmp_path, read_only_paths=[str(TOOLS_DIR)], env=["ANTHROPIC_BASE_URL"])
        home = toolhome.ensure(proj.board.settings, IMPLEMENTER)
        (home / ".claude").mkdir()
        (home / ".claude" / ".credentials.json").write_text("{}")
        out = _check(proj, cfg, env={"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": ""})
    finally:
        api.stop()
    assert ": ok: " in out and "logged in (.claude/.credentials.json" in out, out
    assert f"reaches 127.0.0.1:{api.base_url.rsplit(':', 1)[1]}" in out
    assert api.requests == []  # no model was called


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused (this user is not root)")
def test_root_without_the_sandbox(proj: Project, tmp_path: Path) -> None:
    require("claude", "@anthropic-ai/claude-code")
    cfg = _claude_family(tmp_path)
    out = _check(
        proj,
        cfg,
        "--no-sandbox",
        env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": _listening()},
    )
    assert "claude-code refuses to run unattended as root outside a sandbox" in out
    assert "IS_SANDBOX" in out


def test_a_runner_that_cannot_work_takes_no_task(proj: Project, tmp_path: Path) -> None:
    task = must(proj.agent(DESIGNER).create_task("nobody can do this").task)
    cfg = _claude_family(tmp_path, command=["claude-not-installed-here"])
    done = ainarres(
        proj, "agent", "run", "--family", IMPLEMENTER, "--config", str(cfg), "--until-idle", "1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot work: " in done.stderr and "is not installed" in done.stderr
    assert stage(proj, task.id) == "implement"
    assert events(proj, task.id, "claimed") == []


def test_the_swarm_starts_nobody_while_a_family_cannot_work(proj: Project, tmp_path: Path) -> None:
    task = must(proj.agent(DESIGNER).create_task("nobody can do this").task)
    good = {"adapter": "script", "model": "m", "roles": ["reviewer"], "command": ["true"]}
    bad = {
        "adapter": "claude-code",
        "model": "sonnet",
        "roles": ["implementer"],
        "command": ["claude-not-installed-here"],
    }
    cfg = write_config(tmp_path, {IMPLEMENTER: bad, REVIEWER: good})
    done = ainarres(proj, "swarm", "--config", str(cfg), "--until-idle", "1")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"swarm: preflight: {REVIEWER} (script): ok" in out
    assert f"swarm: not started: {IMPLEMENTER} cannot work" in out
    assert "started" not in done.stdout.replace("not started", "")
    assert events(proj, task.id, "claimed") == []
