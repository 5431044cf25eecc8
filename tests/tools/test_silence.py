"""No silent hangs: a tool that shows no progress for its family's silence_timeout is
stopped, and its task released at once with the reason, instead of holding the task until
the full timeout. "No progress" is nothing printed, or only what the adapter calls idle:
a real tool's retries while its model API is away."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, Project
from standin import StandIn
from test_contracts import TOOLS, Tool
from toolbox import TOOLS_DIR, events, require, run_agent, stage, write_config

from ainarres.agents import toolhome

SILENCE = 4
# far longer than the silence: a run that waited for it would outlast the test's process
# timeout (toolbox.ainarres), so reaching the end at all shows the watchdog stopped it
TIMEOUT = 3600

# prints once, then sleeps without a word
QUIET_TOOL = r"""
import sys, time
print("reading the task", flush=True)
time.sleep(float(sys.argv[1]))
"""
# keeps printing: busy, however long it takes
BUSY_TOOL = r"""
import pathlib, sys, time
for i in range(int(sys.argv[1])):
    print(f"step {i}", flush=True)
    time.sleep(0.5)
pathlib.Path("NOTES.md").write_text("busy and done\n")
"""


def _script_family(tmp_path: Path, script: str, arg: str) -> Path:
    tool = tmp_path / "tools" / "tool.py"
    tool.parent.mkdir(exist_ok=True)
    tool.write_text(script)
    return write_config(
        tmp_path,
        {
            IMPLEMENTER: {
                "adapter": "script",
                "model": "m",
                "roles": ["implementer"],
                # the script adapter adds the role as the last argument
                "command": [sys.executable, str(tool), arg],
                "read_only_paths": [str(tool.parent)],
                "timeout": TIMEOUT,
                "silence_timeout": SILENCE,
            }
        },
    )


def _notes(proj: Project, task: object) -> list[str]:
    return [str(e["data"]["body"]) for e in events(proj, task, "note")]


def test_a_tool_that_goes_quiet_is_stopped_and_its_task_released(
    proj: Project, tmp_path: Path
) -> None:
    task = must(proj.agent(DESIGNER).create_task("quiet").task)
    cfg = _script_family(tmp_path, QUIET_TOOL, str(TIMEOUT))
    done = run_agent(proj, cfg, IMPLEMENTER)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stage(proj, task.id) == "implement"
    [note] = _notes(proj, task.id)
    assert f"the script tool showed no progress for {SILENCE} s" in note
    assert [e["family"] for e in events(proj, task.id, "released")] == [IMPLEMENTER]
    job = next((proj.board.settings.state_dir / "jobs").rglob("tool.err"))
    assert "ainarres: the tool showed no progress" in job.read_text()
    assert (job.parent / "tool.out").read_text() == "reading the task\n"


def test_a_tool_that_keeps_printing_is_not_stopped(proj: Project, tmp_path: Path) -> None:
    task = must(proj.agent(DESIGNER).create_task("busy").task)
    steps = 3 * SILENCE  # runs one and a half times the silence, printing every 0.5 s
    cfg = _script_family(tmp_path, BUSY_TOOL, str(steps))
    done = run_agent(proj, cfg, IMPLEMENTER)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stage(proj, task.id) == "review", done.stdout
    assert _notes(proj, task.id) == []


AWAY = [t for t in TOOLS if t.adapter in ("claude-code", "codex", "opencode", "gemini-cli")]


@pytest.mark.slow
@pytest.mark.parametrize("tool", AWAY, ids=[t.adapter for t in AWAY])
def test_a_real_tool_whose_model_is_away_is_stopped(
    tool: Tool, proj: Project, tmp_path: Path
) -> None:
    """The model API answers every call "overloaded" (HTTP 529): each tool retries,
    silently or printing only its retries, and the runner stops it after the silence. The
    API is up (the preflight passes), as when it fails while a runner works."""
    require(tool.binary, tool.package)
    api = StandIn().start()
    api.fail = 529
    url = api.base_url
    families = {
        IMPLEMENTER: {
            "adapter": tool.adapter,
            "model": tool.model,
            "roles": ["implementer"],
            "env": sorted(tool.env(url)),
            "read_only_paths": [str(TOOLS_DIR)],
            "timeout": TIMEOUT,
            "silence_timeout": SILENCE,
        }
    }
    cfg = write_config(tmp_path, families)
    home = toolhome.ensure(proj.board.settings, IMPLEMENTER)
    if tool.seed is not None:
        tool.seed(home, url)
    task = must(proj.agent(DESIGNER).create_task("the model is away").task)
    try:
        done = run_agent(proj, cfg, IMPLEMENTER, env=tool.env(url))
    finally:
        api.stop()
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert stage(proj, task.id) == "implement", out
    [note] = _notes(proj, task.id)
    assert f"the {tool.adapter} tool showed no progress for {SILENCE} s" in note, note
