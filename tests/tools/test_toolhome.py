"""Each family's tool home: HOME in its sandbox, kept between its jobs, seen by no other
family, and seeded by a person (`ainarres agent login`)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from scenario import DESIGNER, IMPLEMENTER, OTHER_IMPLEMENTER, Project
from toolbox import ainarres, run_agent, write_config

from ainarres.agents import sandbox, toolhome

pytestmark = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no sandbox here: {sandbox.unavailable_reason()}",
)

# An implementer that looks around its home, leaves a mark there and makes its change.
TOOL = r"""
import json, os, pathlib
home = pathlib.Path(os.environ["HOME"])
job = pathlib.Path(os.environ["AINARRES_JOB_DIR"])
title = json.loads((job / "job.json").read_text())["task"]["title"]
seen = {"home": str(home), "in_home": sorted(p.name for p in home.iterdir()),
        "in_slash_home": sorted(os.listdir("/home"))}
(job / "tool-saw.json").write_text(json.dumps(seen))
(home / f"mark-{title}").write_text(title)
pathlib.Path("NOTES.md").write_text(title + "\n")
"""


def _config(tmp_path: Path) -> Path:
    tool = tmp_path / "tools" / "tool.py"
    tool.parent.mkdir(exist_ok=True)
    tool.write_text(TOOL)
    fam = {
        "adapter": "script",
        "model": "m",
        "roles": ["implementer"],
        "command": [sys.executable, str(tool)],
        "read_only_paths": [str(tool.parent)],
    }
    return write_config(tmp_path, {IMPLEMENTER: fam, OTHER_IMPLEMENTER: fam})


def _saw(proj: Project, family: str) -> list[dict[str, object]]:
    found = sorted(
        (proj.board.settings.state_dir / "jobs" / family).rglob("tool-saw.json"),
        key=lambda p: p.stat().st_mtime,
    )
    return [json.loads(p.read_text()) for p in found]


def test_each_family_has_a_home_of_its_own_that_lasts(proj: Project, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    designer = proj.agent(DESIGNER)
    for title in ("one", "two", "three"):
        designer.create_task(title)
    assert run_agent(proj, cfg, IMPLEMENTER).returncode == 0
    assert run_agent(proj, cfg, OTHER_IMPLEMENTER).returncode == 0
    assert run_agent(proj, cfg, IMPLEMENTER).returncode == 0

    first, again = _saw(proj, IMPLEMENTER)
    [other] = _saw(proj, OTHER_IMPLEMENTER)
    assert first == {"home": sandbox.TOOL_HOME, "in_home": [], "in_slash_home": ["ainarres"]}
    assert other["in_home"] == []  # not the first family's mark
    assert again["in_home"] == ["mark-one"]  # its own, from its earlier job
    settings = proj.board.settings
    mine, theirs = toolhome.path(settings, IMPLEMENTER), toolhome.path(settings, OTHER_IMPLEMENTER)
    assert sorted(p.name for p in mine.iterdir()) == ["mark-one", "mark-three"]
    assert sorted(p.name for p in theirs.iterdir()) == ["mark-two"]
    for home in (mine, theirs, mine.parent):
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert mine.parent == settings.state_dir / "toolhomes"


def _claude_config(tmp_path: Path, command: list[str], readable: list[str]) -> Path:
    fam = {
        "adapter": "claude-code",
        "model": "sonnet",
        "roles": ["implementer"],
        "command": command,
        "read_only_paths": readable,
    }
    return write_config(tmp_path, {IMPLEMENTER: fam})


def test_login_runs_the_tools_login_in_the_sandbox_with_the_family_home(
    proj: Project, tmp_path: Path
) -> None:
    # a stand-in `claude` whose `auth login` stores a credential under HOME, as the real
    # one does after its browser flow
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "claude"
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "auth login" ] || exit 9\n'
        'mkdir -p "$HOME/.claude" && echo "{}" > "$HOME/.claude/.credentials.json"\n'
        'echo "logged in, HOME=$HOME"\n'
    )
    fake.chmod(0o755)
    cfg = _claude_config(tmp_path, [str(fake)], [str(folder)])
    done = ainarres(proj, "agent", "login", "--family", IMPLEMENTER, "--config", str(cfg))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"logged in, HOME={sandbox.TOOL_HOME}" in done.stdout
    home = toolhome.path(proj.board.settings, IMPLEMENTER)
    assert (home / ".claude" / ".credentials.json").is_file()
    where = ainarres(
        proj, "agent", "login", "--family", IMPLEMENTER, "--config", str(cfg), "--where"
    )
    assert where.stdout.strip() == str(home)


def test_login_can_copy_the_tools_files_from_the_persons_home(
    proj: Project, tmp_path: Path
) -> None:
    person = Path.home()  # the test's own HOME (conftest)
    (person / ".claude").mkdir()
    (person / ".claude" / "settings.json").write_text('{"theme": "dark"}')
    (person / ".claude.json").write_text("{}")
    (person / ".ssh").mkdir()
    (person / ".ssh" / "id_ed25519").write_text("secret")
    cfg = _claude_config(tmp_path, ["claude"], [])
    done = ainarres(
        proj, "agent", "login", "--family", IMPLEMENTER, "--config", str(cfg), "--copy-home"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    home = toolhome.path(proj.board.settings, IMPLEMENTER)
    assert sorted(p.name for p in home.iterdir()) == [".claude", ".claude.json"]
    assert (home / ".claude" / "settings.json").read_text() == '{"theme": "dark"}'


def test_a_tool_without_a_login_says_where_its_key_comes_from(
    proj: Project, tmp_path: Path
) -> None:
    fam = {"adapter": "aider", "model": "sonnet", "roles": ["implementer"]}
    cfg = write_config(tmp_path, {IMPLEMENTER: fam})
    done = ainarres(proj, "agent", "login", "--family", IMPLEMENTER, "--config", str(cfg))
    assert done.returncode == 2
    assert "aider has no login of its own: it takes its key from OPENAI_API_KEY" in done.stderr
