"""From inside the sandbox, a shell tries what an agent's tool might; every attempt fails.

The tool is set up exactly as the runner sets it up (same mounts, same environment), in a
real task worktree of a real project with a real board and hub.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, Project

from ainarres import project
from ainarres.agents import sandbox, workspace
from ainarres.agents.runner import tool_mounts
from ainarres.credentials import family_file, operator_file
from ainarres.errors import BadInput
from ainarres.git.hub import check_hub

REASON = sandbox.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no sandbox here: {REASON}")


def _in_sandbox(proj: Project, tmp_path: Path, script: str) -> dict[str, str]:
    """Prepare a task worktree as the runner does and run `script` (Python) in the sandbox;
    it prints a JSON object of attempt -> outcome."""
    task = proj.agent(DESIGNER).create_task("t").task
    agent = proj.agent(IMPLEMENTER, "tool-owner")
    claim = agent.claim_next()
    worktree = workspace.prepare(proj.board.settings, agent, claim.task, claim.epoch).path
    job_dir = proj.board.settings.state_dir / "jobs" / "probe"
    job_dir.mkdir(parents=True)
    env = sandbox.tool_env((), {"AINARRES_JOB_DIR": str(job_dir)})
    argv = sandbox.wrap(
        [sys.executable, "-c", script],
        tool_mounts(proj.board.settings, job_dir, worktree),
        worktree,
        env,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    del task
    return dict(json.loads(done.stdout))


ATTEMPT = r"""
import json, os, subprocess, sys
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "SUCCEEDED"
    except Exception as exc:
        out[name] = type(exc).__name__
paths = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
"""


def test_sandbox_hides_every_credential(proj: Project, tmp_path: Path) -> None:
    settings = proj.board.settings
    secrets = {
        "integrator key": project.key_path(settings, INTEGRATOR),
        "own family key": project.key_path(settings, IMPLEMENTER),
        "operator password": operator_file(proj.board.cluster.server.state_dir),
        "another family's credential": family_file(settings.state_dir, DESIGNER),
        "own family's credential": family_file(settings.state_dir, IMPLEMENTER),
        "gate login": proj.hub / "ainarres" / "board.json",
    }
    for path in secrets.values():
        assert path.exists(), path  # they are there, outside
    script = (
        ATTEMPT
        + "".join(
            f"attempt({name!r}, lambda: open({str(path)!r}).read())\n"
            for name, path in secrets.items()
        )
        + "print(json.dumps(out))"
    )
    result = _in_sandbox(proj, tmp_path, script)
    assert result == {name: "FileNotFoundError" for name in secrets}


def test_sandbox_cannot_reach_the_board(proj: Project, tmp_path: Path) -> None:
    info = proj.board.cluster.conninfo(proj.board.dbname)  # the real superuser password
    fam = json.loads(family_file(proj.board.settings.state_dir, DESIGNER).read_text())
    tries = {
        "as the superuser": info,
        "as another family": {**info, **fam},
        "with no password": {**info, "password": ""},
    }
    script = (
        ATTEMPT
        + "import psycopg\nfrom psycopg.conninfo import make_conninfo\n"
        + "".join(
            f"attempt({name!r}, lambda: psycopg.connect(make_conninfo(**{conn!r}), "
            "connect_timeout=3).close())\n"
            for name, conn in tries.items()
        )
        + "print(json.dumps(out))"
    )
    result = _in_sandbox(proj, tmp_path, script)
    assert result == {name: "OperationalError" for name in tries}


def test_sandbox_cannot_touch_the_hub(proj: Project, tmp_path: Path) -> None:
    main = proj.hub_ref(MAIN)
    hook = proj.hub / "hooks" / "pre-receive"
    before = hook.read_bytes()
    script = (
        ATTEMPT
        + f"""
hub = {str(proj.hub)!r}
def write_main():
    os.makedirs(hub + "/refs/heads", exist_ok=True)
    open(hub + "/refs/heads/main", "w").write("0" * 40 + "\\n")
    if not os.path.exists(hub + "/objects"):
        raise PermissionError("wrote into an empty stand-in, not the hub")
attempt("write refs/heads/main", write_main)
def edit_hook():
    with open(hub + "/hooks/pre-receive", "a") as fh:
        fh.write("exit 0\\n")
attempt("edit a hook", edit_hook)
def push_main():
    subprocess.run(["git", "push", hub, "HEAD:refs/heads/main"], check=True, capture_output=True)
attempt("push main by path", push_main)
print(json.dumps(out))
"""
    )
    result = _in_sandbox(proj, tmp_path, script)
    assert result["write refs/heads/main"] != "SUCCEEDED"
    assert result["push main by path"] == "CalledProcessError"
    assert proj.hub_ref(MAIN) == main
    assert hook.read_bytes() == before and check_hub(proj.hub) == []


def test_sandbox_sees_only_its_own_worktree(proj: Project, tmp_path: Path) -> None:
    other_task = proj.agent(DESIGNER).create_task("other").task
    other = proj.agent(IMPLEMENTER, "other-agent")
    claim = other.claim_next()
    assert claim.task.id == other_task.id
    theirs = workspace.prepare(proj.board.settings, other, claim.task, claim.epoch).path
    (theirs / "secret-work.txt").write_text("not for you\n")
    script = (
        ATTEMPT
        + f"""
attempt("read another task's worktree", lambda: open({str(theirs / "secret-work.txt")!r}).read())
attempt("write own worktree", lambda: open("mine.txt", "w").write("ok"))
def plant_hook():
    git_dir = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                             text=True, check=True).stdout.strip()
    open(os.path.join(git_dir, "hooks", "pre-commit"), "w").write("#!/bin/sh\\ntouch /pwned\\n")
attempt("plant a hook the runner would run", plant_hook)
print(json.dumps(out))
"""
    )
    result = _in_sandbox(proj, tmp_path, script)
    assert result == {
        "read another task's worktree": "FileNotFoundError",
        "write own worktree": "SUCCEEDED",
        "plant a hook the runner would run": "OSError",
    }


def test_sandbox_refuses_paths_that_escape(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"sandbox folder .*/nowhere does not exist"):
        sandbox.wrap(
            ["true"], sandbox.Mounts(writable=(tmp_path / "nowhere",), hidden=()), tmp_path, {}
        )
    root = tmp_path / "worktrees"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path.parent)
    from ainarres.git.worktree import worktree_path_is_inside

    assert not worktree_path_is_inside(root, root / "escape")
    assert not worktree_path_is_inside(root, root / ".." / "x")
    assert worktree_path_is_inside(root, root / "task_ok")
