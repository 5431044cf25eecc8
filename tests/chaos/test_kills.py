"""Kill any process at any moment: each fault the chaos run met, reproduced on purpose.

integrate is SIGKILLed inside each of its phases and run again; caches are left the way a
killed git leaves them; a runner dies between its push and its done; the next run always
finishes the work, ships each task once, and leaves nothing behind.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from agentrun import run_agent, script_config
from boardenv import must, rows
from scenario import IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project, git

PHASES = ["fetch", "merge", "checkout", "checks", "before-push", "after-push", "shipping"]


def _stages(proj: Project) -> list[str]:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s ON "
            "s.id = t.stage_id ORDER BY t.seq",
        )
    return [r["name"] for r in got]


def _merged_tasks(proj: Project) -> list[str]:
    out = git(
        proj.hub, "log", "--first-parent", "--format=%(trailers:key=Ainarres-Task,valueonly)", MAIN
    )
    return out.split()


def _leftovers(proj: Project) -> list[Path]:
    state = proj.board.settings.state_dir
    scratch = [p for p in (state / "scratch").glob("*")] if (state / "scratch").exists() else []
    mirror = state / "integrator" / f"{INTEGRATOR}.git"
    locks = list(mirror.rglob("*.lock")) + list((mirror / "worktrees").glob("*"))
    return scratch + locks


@pytest.mark.parametrize("phase", PHASES)
def test_integrate_killed_in_each_phase_then_run_again_ships_each_task_once(
    proj: Project, phase: str
) -> None:
    tasks = [proj.approved_task(f"k{i}.txt", claim=False)[0] for i in range(2)]
    killed = proj.board.run("integrate", "--family", INTEGRATOR, env={"AINARRES_FAILPOINT": phase})
    assert killed.returncode == -9, killed.stderr
    again = proj.board.run("integrate", "--family", INTEGRATOR)
    assert again.returncode == 0, again.stderr
    assert _stages(proj) == ["shipped", "shipped"]
    assert sorted(_merged_tasks(proj)) == sorted(str(t) for t in tasks)  # each merged once
    assert _leftovers(proj) == []
    assert (
        subprocess.run(
            ["git", "fsck", "--no-progress"], cwd=proj.hub, capture_output=True, check=False
        ).returncode
        == 0
    )
    assert proj.board.run("integrate", "--family", INTEGRATOR).returncode == 0  # nothing left


def test_a_mirror_poisoned_by_a_killed_git_is_repaired(proj: Project) -> None:
    """What one SIGKILL during `git worktree add` left: a locked record with a null HEAD,
    stale lock files, a half-made clone beside the mirror. Every later fetch failed."""
    proj.approved_task("p.txt", claim=False)
    assert proj.board.run("integrate", "--family", INTEGRATOR, "--dry-run").returncode == 0
    mirror = proj.board.settings.state_dir / "integrator" / f"{INTEGRATOR}.git"
    record = mirror / "worktrees" / "tree"
    record.mkdir(parents=True)
    (record / "locked").write_text("initializing")
    (record / "HEAD").write_text("0" * 40 + "\n")
    (record / "gitdir").write_text("/tmp/ainarres-scratch-gone/tree/.git\n")
    (mirror / "packed-refs.lock").write_text("")
    (mirror / "refs" / "heads" / "main.lock").write_text("")
    half = mirror.with_name(f".{mirror.name}.tmp-99999")
    (half / "objects").mkdir(parents=True)
    done = proj.board.run("integrate", "--family", INTEGRATOR)
    assert done.returncode == 0, done.stderr
    assert "repaired" in done.stderr + done.stdout
    assert _stages(proj) == ["shipped"]
    assert not record.exists() and not half.exists() and _leftovers(proj) == []


SCRIPT = r"""
import json, os, pathlib, sys
job = json.loads((pathlib.Path(os.environ["AINARRES_JOB_DIR"]) / "job.json").read_text())
if sys.argv[-1] == "implementer":
    path = pathlib.Path("WORK.md")
    if not path.exists():
        path.write_text(job["task"]["title"] + "\n")
else:
    (pathlib.Path(os.environ["AINARRES_JOB_DIR"]) / "result.json").write_text(
        json.dumps({"verdict": "approve", "reason": "ok"}))
"""


def _config(tmp_path: Path) -> Path:
    return script_config(tmp_path, {IMPLEMENTER: "implementer", REVIEWER: "reviewer"}, SCRIPT)


def _agent(
    proj: Project, cfg: Path, family: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_agent(proj.board, cfg, family, *args, env=env, timeout=120)


def test_a_runner_killed_between_push_and_done_is_not_blamed_for_changing_nothing(
    proj: Project, tmp_path: Path
) -> None:
    """The restarted agent (same name) releases its task at once, and the next attempt
    counts the work already on the hub's task branch."""
    from scenario import DESIGNER

    task = must(proj.agent(DESIGNER).create_task("work survives a crash").task)
    cfg = _config(tmp_path)
    killed = _agent(
        proj, cfg, IMPLEMENTER, "--max-tasks", "1", env={"AINARRES_FAILPOINT": "runner-after-push"}
    )
    assert killed.returncode == -9
    pushed = proj.hub_ref(f"refs/heads/{task.branch}")
    assert pushed is not None
    again = _agent(proj, cfg, IMPLEMENTER, "--max-tasks", "1", "--until-idle", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "held by an earlier run of this agent" in again.stdout
    with proj.board.operator() as conn:
        t = rows(
            conn,
            "SELECT s.name, t.head_commit, t.blocked, t.attempts FROM ainarres.tasks "
            "t JOIN ainarres.stages s ON s.id = t.stage_id WHERE t.id = %s",
            task.id,
        )[0]
    assert t == {"name": "review", "head_commit": pushed, "blocked": False, "attempts": 0}
