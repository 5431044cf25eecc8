"""The loop closes: returned -> fixed -> shipped, for automated agents with no person in
between. Real runner processes drive scripted tools through the script adapter; the
integrator merges through the gate; a fresh clone of the hub proves main still passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentrun import run_agent, script_config
from boardenv import must, rows
from scenario import (
    DESIGNER,
    IMPLEMENTER,
    INTEGRATOR,
    INTEGRATOR_PASSPHRASE,
    MAIN,
    REVIEWER,
    Project,
    git,
)

from ainarres.integrate.run import Options, integrate

# One tool for every role, as a model would follow the prompt: the implementer adds its
# task's line to NOTES.md (two tasks collide there), resolves conflict markers by keeping
# both sides, and for a `fix:` task writes word_count wrong until a failing test is named
# in what came back; the reviewer approves, or writes what REVIEW_RESULT says.
TOOL = r"""
import json, os, pathlib, re, sys
job_dir = pathlib.Path(os.environ["AINARRES_JOB_DIR"])
job = json.loads((job_dir / "job.json").read_text())
role, task = sys.argv[-1], job["task"]
log = job_dir / "tool-saw.json"
if role == "reviewer":
    result = os.environ.get("REVIEW_RESULT") or '{"verdict": "approve", "reason": "fine"}'
    (job_dir / "result.json").write_text(result)
    sys.exit(0)
feedback = json.loads((job_dir / "feedback.json").read_text())
prompt = (job_dir / "prompt.txt").read_text()
notes = pathlib.Path("NOTES.md")
text = notes.read_text() if notes.exists() else "# notes\n"
saw = {"markers": "<<<<<<<" in text, "feedback": feedback, "prompt": prompt}
if saw["markers"]:
    kept = [ln for ln in text.splitlines() if not re.match(r"^(<{7}|={7}|>{7})( |$)", ln)]
    notes.write_text("\n".join(kept) + "\n")
elif task["title"].startswith("fix:"):
    named = any("test_word_count" in (f["reason"] + (f["detail"] or "")) for f in feedback)
    stats = pathlib.Path("sandbox/stats.py")
    good, bad = "return len(words(text))", "return -1"
    body = stats.read_text()
    body = body if "# tidied" in body else body + "\n# tidied\n"
    stats.write_text(body.replace(bad, good) if named else body.replace(good, bad))
else:
    notes.write_text(text + f"- {task['title']}\n")
log.write_text(json.dumps(saw))
"""


def _config(tmp_path: Path, families: dict[str, str]) -> Path:
    return script_config(tmp_path, families, TOOL, env=("REVIEW_RESULT",))


def _run_agent(
    proj: Project, cfg: Path, family: str, tasks: int, env: dict[str, str] | None = None
) -> str:
    done = run_agent(
        proj.board, cfg, family, "--max-tasks", str(tasks), "--until-idle", "3", env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _stage(proj: Project, task: object) -> str:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s "
            "ON s.id = t.stage_id WHERE t.id = %s",
            task,
        )
    return str(got[0]["name"])


def _last_job(proj: Project, family: str, branch: str) -> Path:
    root = proj.board.settings.state_dir / "jobs" / family
    jobs = sorted(root.rglob(f"{branch.replace('/', '_')}-e*"), key=lambda p: p.stat().st_mtime)
    return jobs[-1]


def _integrate(proj: Project) -> list[Any]:
    return integrate(
        proj.board.settings, Options(family=INTEGRATOR, passphrase=INTEGRATOR_PASSPHRASE)
    )


def _fresh_clone_tests_pass(proj: Project, tmp_path: Path) -> None:
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "--quiet", str(proj.hub), str(clone))
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_conflict_comes_back_is_resolved_by_the_tool_and_ships(
    proj: Project, tmp_path: Path
) -> None:
    designer = proj.agent(DESIGNER)
    first = must(designer.create_task("add the first note").task)
    second = must(designer.create_task("add the second note").task)
    cfg = _config(tmp_path, {IMPLEMENTER: "implementer", REVIEWER: "reviewer"})
    out = _run_agent(proj, cfg, IMPLEMENTER, 2)
    out += _run_agent(proj, cfg, REVIEWER, 2)
    results = {r.short_id: r for r in _integrate(proj)}
    assert first.short_id in results, out
    assert results[first.short_id].outcome == "shipped"
    assert results[second.short_id].outcome == "returned"
    assert "merge conflict with main in: NOTES.md" in results[second.short_id].detail
    assert _stage(proj, second.id) == "implement"

    # the automated implementer takes it back: main merged in, markers left for the tool
    _run_agent(proj, cfg, IMPLEMENTER, 1)
    job = _last_job(proj, IMPLEMENTER, second.branch)
    saw = json.loads((job / "tool-saw.json").read_text())
    assert saw["markers"] is True
    assert "these files conflict: NOTES.md" in saw["prompt"]
    assert [f["source"] for f in saw["feedback"]] == ["conflict"]
    assert "NOTES.md" in saw["feedback"][0]["reason"]
    hunks = saw["feedback"][0]["detail"]  # the conflicting hunks, as git wrote them
    assert hunks.startswith("--- NOTES.md, lines ") and "<<<<<<< " in hunks
    assert "- add the first note" in hunks and "- add the second note" in hunks
    _run_agent(proj, cfg, REVIEWER, 1)
    again = {r.short_id: r.outcome for r in _integrate(proj)}
    assert again == {second.short_id: "shipped"}
    notes = git(proj.hub, "show", f"{MAIN}:NOTES.md")
    assert "- add the first note" in notes and "- add the second note" in notes
    assert "<<<<<<<" not in notes
    merged = git(
        proj.hub, "log", "--first-parent", "--format=%(trailers:key=Ainarres-Task,valueonly)", MAIN
    ).split()
    assert sorted(merged) == sorted([str(first.id), str(second.id)])
    _fresh_clone_tests_pass(proj, tmp_path)


def test_a_test_breaking_task_comes_back_with_the_failing_test_and_is_fixed(
    proj: Project, tmp_path: Path
) -> None:
    task = must(proj.agent(DESIGNER).create_task("fix: tidy word_count").task)
    cfg = _config(tmp_path, {IMPLEMENTER: "implementer", REVIEWER: "reviewer"})
    _run_agent(proj, cfg, IMPLEMENTER, 1)
    _run_agent(proj, cfg, REVIEWER, 1)
    [back] = _integrate(proj)
    assert back.outcome == "returned"
    first_line = back.detail.splitlines()[0]
    assert "failing: " in first_line and "test_word_count" in first_line
    main_before = proj.hub_ref(MAIN)
    _run_agent(proj, cfg, IMPLEMENTER, 1)
    saw = json.loads((_last_job(proj, IMPLEMENTER, task.branch) / "tool-saw.json").read_text())
    [fb] = saw["feedback"]
    assert fb["source"] == "checks" and "test_word_count" in fb["reason"]
    assert "FAIL: test_word_count" in fb["detail"]  # the output, in full
    _run_agent(proj, cfg, REVIEWER, 1)
    [shipped] = _integrate(proj)
    assert shipped.outcome == "shipped" and proj.hub_ref(MAIN) != main_before
    _fresh_clone_tests_pass(proj, tmp_path)


def test_a_reviewer_result_with_a_bad_severity_is_refused_and_the_task_freed_at_once(
    proj: Project, tmp_path: Path
) -> None:
    task = must(proj.agent(DESIGNER).create_task("add a note").task)
    cfg = _config(tmp_path, {IMPLEMENTER: "implementer", REVIEWER: "reviewer"})
    _run_agent(proj, cfg, IMPLEMENTER, 1)
    bad = json.dumps(
        {
            "verdict": "approve",
            "reason": "ok",
            "annotations": [{"file": "NOTES.md", "line": 2, "severity": "fatal", "body": "hmm"}],
        }
    )
    out = _run_agent(proj, cfg, REVIEWER, 1, env={"REVIEW_RESULT": bad})
    assert "result.json: annotations.0.severity" in out
    with proj.board.operator() as conn:
        t = rows(
            conn,
            "SELECT holder_agent, s.name AS stage FROM ainarres.tasks t JOIN "
            "ainarres.stages s ON s.id = t.stage_id WHERE t.id = %s",
            task.id,
        )[0]
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task.id
            )
        ]
        reviews = rows(conn, "SELECT count(*) AS n FROM ainarres.reviews")
    assert t == {"holder_agent": None, "stage": "review"}  # back in the queue, no verdict
    assert kinds[-2:] == ["note", "released"] and reviews == [{"n": 0}]
