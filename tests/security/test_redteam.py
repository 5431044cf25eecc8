"""Attacks a red-team run found against the landed code, each refused now. Every test here
failed on the code before its fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from agentrun import run_agent, script_config
from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project, git

from ainarres.agents import sandbox

SANDBOXED = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None, reason=f"no sandbox: {sandbox.unavailable_reason()}"
)


def _main_with_a_submodule(proj: Project) -> None:
    """The project has a submodule, as many real ones do (set up past the gate, as an
    import would have it)."""
    hub = proj.hub
    listing = git(hub, "ls-tree", f"{MAIN}^{{tree}}")
    modules = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=hub,
        capture_output=True,
        text=True,
        input='[submodule "vendor"]\n\tpath = vendor\n\turl = https://example.invalid/v.git\n',
        check=True,
    ).stdout.strip()
    entries = f"{listing}\n100644 blob {modules}\t.gitmodules\n160000 commit {'1' * 40}\tvendor\n"
    tree = subprocess.run(
        ["git", "mktree"], cwd=hub, input=entries, capture_output=True, text=True, check=True
    ).stdout.strip()
    old = git(hub, "rev-parse", MAIN)
    new = git(
        hub,
        "-c",
        "user.name=p",
        "-c",
        "user.email=p@x",
        "commit-tree",
        tree,
        "-p",
        old,
        "-m",
        "add a submodule",
    )
    git(hub, "update-ref", MAIN, new, old)


PLANT = r"""
import os, subprocess, sys
mark = sys.argv[1]
def g(*a): subprocess.run(["git", *a], cwd="vendor", check=True, capture_output=True)
os.makedirs("vendor", exist_ok=True)
g("init", "-q"); g("config", "user.name", "t"); g("config", "user.email", "t@x")
open("vendor/f.txt", "w").write("x\n")
open("vendor/.gitattributes", "w").write("* filter=pwn\n")
g("add", "f.txt", ".gitattributes"); g("commit", "-qm", "x")
g("config", "filter.pwn.clean", f"sh -c 'id > {mark}; cat'")
open("vendor/f.txt", "w").write("y\n")
raise SystemExit(1)  # a failed run: released, nothing committed, the worktree kept
"""


def _run_agent(proj: Project, cfg: Path, family: str) -> str:
    done = run_agent(proj.board, cfg, family, "--max-tasks", "1", "--until-idle", "2", timeout=120)
    return done.stdout + done.stderr


@SANDBOXED
def test_a_repository_planted_at_a_submodule_path_never_runs_its_filter(
    proj: Project, tmp_path: Path
) -> None:
    """The tool makes a repository where main has a submodule, with a clean filter in its
    own config. The runner's next `git status` on that worktree (a job taken again, or
    `worktree prune`) used to run the filter as the runner."""
    _main_with_a_submodule(proj)
    mark = tmp_path / "PWNED"
    cfg = script_config(tmp_path, {IMPLEMENTER: "implementer"}, PLANT, args=(str(mark),))
    proj.agent(DESIGNER).create_task("planted")
    first = _run_agent(proj, cfg, IMPLEMENTER)
    assert "released" in first and not mark.exists(), first
    again = _run_agent(proj, cfg, IMPLEMENTER)  # the same agent takes the task again
    assert not mark.exists(), "the runner ran the tool's filter: " + mark.read_text()
    assert "threw away the worktree" in again, again
    pruned = proj.board.run(
        "worktree", "prune", family=IMPLEMENTER, env={"AINARRES_AGENT": f"{IMPLEMENTER}-1"}
    )
    assert not mark.exists(), pruned.stderr


def test_a_task_whose_output_holds_escapes_does_not_stop_integration(proj: Project) -> None:
    """Its failing test prints an ANSI escape and a bidi control; the board refuses such
    text, and integrate used to stop there for good (the task held, retried every run)."""
    noisy = (
        "import unittest\n\n\nclass Noisy(unittest.TestCase):\n"
        "    def test_noise(self) -> None:\n"
        "        print('\\x1b[31mred\\u202e\\x00')\n"
        "        self.fail('\\x1b[0mboom')\n"
    )
    bad, _, _ = proj.approved_task("tests/test_noisy.py", noisy, claim=False)
    good, _, _ = proj.approved_task("fine.txt", claim=False)
    done = proj.board.run("integrate", "--family", INTEGRATOR)
    assert done.returncode == 0, done.stderr
    assert "1 shipped, 1 returned" in done.stdout
    with proj.board.operator() as conn:
        back = rows(
            conn,
            "SELECT data->>'reason' AS reason, data->>'detail' AS detail FROM "
            "ainarres.events WHERE kind = 'returned' AND task_id = %s",
            bad,
        )
        stages = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s ON "
            "s.id = t.stage_id WHERE t.id = %s",
            good,
        )
    assert stages == [{"name": "shipped"}]
    [row] = back
    assert "\x1b" not in row["detail"] and "\\x1b[31mred\\u{202e}" in row["detail"]


def test_short_lapses_under_fresh_names_count_and_stop_the_family(proj: Project) -> None:
    """A family claimed a task with short leases under new agent names and let them lapse
    until the task blocked; none counted, since no lapsed agent was seen again."""
    task = must(proj.agent(DESIGNER).create_task("target").task)
    for i in range(3):
        out = proj.agent(IMPLEMENTER, f"fresh-{i}").claim_next("implementer", lease_seconds=10)
        assert out.ok, out.message
        with proj.board.operator() as conn:  # the lease runs out (operator-side expiry)
            conn.execute(
                b"UPDATE ainarres.tasks SET lease_expires_at = now() - interval "
                b"'1 second' WHERE id = %s",
                (task.id,),
            )
    blocked = proj.agent(IMPLEMENTER, "fresh-3").claim_next("implementer", lease_seconds=10)
    assert blocked.outcome == "empty"  # the third lapse blocked it for a person
    with proj.board.operator() as conn:
        seen = rows(
            conn,
            "SELECT data->>'seen_after_expiry' AS seen FROM ainarres.events "
            "WHERE kind = 'lease_expired' ORDER BY id",
        )
        denied = rows(
            conn,
            "SELECT d.reason FROM ainarres.denials d JOIN ainarres.families f "
            "ON f.id = d.family_id WHERE f.name = %s",
            IMPLEMENTER,
        )
    assert [r["seen"] for r in seen] == ["true", "true", "true"]  # the family kept talking
    assert denied and denied[0]["reason"].startswith("policy implementer-abandons")
    stopped = proj.agent(IMPLEMENTER, "fresh-4").claim_next("implementer", lease_seconds=10)
    assert stopped.outcome == "not_allowed"  # and may not try it on another task


def test_review_show_escapes_trojan_source(proj: Project) -> None:
    """Bidi controls and invisible characters in a diff reached the terminal as they are."""
    task = must(proj.agent(DESIGNER).create_task("trojan").task)
    impl = proj.agent(IMPLEMENTER)
    claim = impl.claim_next()
    head = proj.commit_on(task.branch, "t.py", "access = 'user\u202e \u2066// admin\u2069'\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claim.epoch).ok
    assert impl.advance(task.id, claim.epoch or 0, head).ok
    assert proj.board.run("next", family=REVIEWER).returncode == 0
    shown = proj.board.run("review", "show", task.short_id, family=REVIEWER).stdout
    assert "\u202e" not in shown and "\u2066" not in shown
    assert "\\u{202e}" in shown and "\\u{2066}" in shown


SWAP = r"""
import os, pathlib
job = pathlib.Path(os.environ["AINARRES_JOB_DIR"])
for name in ("tool.out", "tool.err"):
    os.remove(job / name)
    os.mkfifo(job / name)
pathlib.Path("work.txt").write_text("done\n")
"""


@SANDBOXED
def test_a_tool_that_swaps_its_output_files_for_fifos_does_not_hang_the_runner(
    proj: Project, tmp_path: Path
) -> None:
    """The runner read tool.out and tool.err back by name; a FIFO there hung it for ever
    (its heartbeat kept the task held)."""
    cfg = script_config(tmp_path, {IMPLEMENTER: "implementer"}, SWAP)
    task = must(proj.agent(DESIGNER).create_task("swap").task)
    out = _run_agent(proj, cfg, IMPLEMENTER)  # subprocess timeout: 120 s
    assert f"{task.short_id} ok" in out, out
