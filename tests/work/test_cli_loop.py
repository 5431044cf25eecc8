"""What a person (or a tool driving the CLI) meets on the way round the loop: each point
that was seen to break, as the real `ainarres` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project, git

GIT_ENV = {
    "GIT_AUTHOR_NAME": "P",
    "GIT_AUTHOR_EMAIL": "p@x.test",
    "GIT_COMMITTER_NAME": "P",
    "GIT_COMMITTER_EMAIL": "p@x.test",
}


def _commit(worktree: Path, name: str, text: str) -> str:
    (worktree / name).write_text(text)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "add", name], cwd=worktree, check=True, env=env)
    subprocess.run(
        ["git", "commit", "-q", "--no-gpg-sign", "-m", f"add {name}"],
        cwd=worktree,
        check=True,
        env=env,
    )
    return git(worktree, "rev-parse", "HEAD")


def _next(proj: Project, family: str = IMPLEMENTER) -> dict[str, Any]:
    got = proj.board.run("next", "--json", family=family)
    assert got.returncode == 0, got.stderr
    return dict(json.loads(got.stdout))


def test_push_refuses_uncommitted_work_commits_on_request_and_says_what_it_pushed(
    proj: Project,
) -> None:
    task = must(proj.agent(DESIGNER).create_task("notes").task)
    wt = Path(str(_next(proj)["worktree"]))
    (wt / "NOTES.md").write_text("work\n")
    refused = proj.board.run("push", task.short_id, family=IMPLEMENTER)
    assert refused.returncode == 2
    assert "1 uncommitted change(s)" in refused.stderr and "--commit -m" in refused.stderr
    assert proj.hub_ref(f"refs/heads/{task.branch}") is None  # nothing was pushed
    pushed = proj.board.run(
        "push", task.short_id, "--commit", "-m", "add notes", "--json", family=IMPLEMENTER
    )
    assert pushed.returncode == 0, pushed.stderr
    data = json.loads(pushed.stdout)
    assert (
        data["commit"] == proj.hub_ref(f"refs/heads/{task.branch}") == git(wt, "rev-parse", "HEAD")
    )
    text = proj.board.run("push", task.short_id, family=IMPLEMENTER)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == f"pushed {data['commit']} to {task.branch}"


def test_done_refuses_an_empty_change_unless_told_why(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("nothing to do?").task)
    wt = Path(str(_next(proj)["worktree"]))
    assert proj.board.run("push", task.short_id, family=IMPLEMENTER).returncode == 0
    before = proj.board.snapshot()
    empty = proj.board.run("done", task.short_id, family=IMPLEMENTER)
    assert empty.returncode == 2
    assert "changes nothing against main" in empty.stderr and "--empty REASON" in empty.stderr
    assert proj.board.snapshot() == before
    said = proj.board.run(
        "done", task.short_id, "--empty", "already fixed on main", family=IMPLEMENTER
    )
    assert said.returncode == 0, said.stderr
    with proj.board.operator() as conn:
        notes = rows(
            conn,
            "SELECT data->>'body' AS body FROM ainarres.events WHERE kind = "
            "'note' AND task_id = %s",
            task.id,
        )
    assert notes == [{"body": "done with no change: already fixed on main"}]
    del wt


def test_every_command_works_from_inside_a_task_worktree(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("from the worktree").task)
    wt = Path(str(_next(proj)["worktree"]))
    _commit(wt, "A.md", "a\n")
    env = {k: v for k, v in os.environ.items() if k != "AINARRES_HOME"}
    env.update(AINARRES_DATABASE_URL=proj.board.url, AINARRES_FAMILY=IMPLEMENTER)
    sub = wt / "sandbox"
    for args in (("push", task.short_id), ("done", task.short_id), ("board",)):
        done = subprocess.run(
            [sys.executable, "-m", "ainarres", *args],
            cwd=sub,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (args, done.stderr)
    assert not (sub / ".ainarres").exists() and not (wt / ".ainarres").exists()


def test_no_command_makes_a_board_where_none_is_set_up(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINARRES_")}
    for args in (
        ("board",),
        ("next", "--family", IMPLEMENTER),
        ("push", "abcd", "--family", IMPLEMENTER),
        ("db", "start"),
        ("report",),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ainarres", *args],
            cwd=empty,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 4, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "run `ainarres init`" in done.stderr
    assert os.listdir(empty) == []


def test_every_feedback_source_reaches_next_json(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("feedback").task)
    wt = Path(str(_next(proj)["worktree"]))
    _commit(wt, "F.md", "one\ntwo\n")
    assert proj.board.run("push", task.short_id, family=IMPLEMENTER).returncode == 0
    assert proj.board.run("done", task.short_id, family=IMPLEMENTER).returncode == 0
    assert proj.board.run("next", family=REVIEWER).returncode == 0
    assert (
        proj.board.run("note", task.short_id, "look at line two", family=REVIEWER).returncode == 0
    )
    annotated = proj.board.run(
        "review",
        "annotate",
        task.short_id,
        "--file",
        "F.md",
        "--line",
        "2",
        "--severity",
        "major",
        "--body",
        "say why",
        family=REVIEWER,
    )
    assert annotated.returncode == 0, annotated.stderr
    assert (
        proj.board.run("return", task.short_id, "--reason", "explain", family=REVIEWER).returncode
        == 0
    )
    first = _next(proj)
    assert [f["source"] for f in first["feedback"]] == ["note", "review"]
    review = first["feedback"][1]
    assert (review["reason"], review["round"], review["family"]) == ("explain", 1, REVIEWER)
    assert [(a["file"], a["line"], a["body"]) for a in review["annotations"]] == [
        ("F.md", 2, "say why")
    ]
    assert (
        proj.board.run(
            "block", task.short_id, "--reason", "needs a decision", family=IMPLEMENTER
        ).returncode
        == 0
    )
    assert proj.board.run("unblock", task.short_id, "--reason", "use plan B").returncode == 0
    _next(proj)
    with proj.board.operator() as conn:  # that claim runs out (operator-side expiry)
        conn.execute(
            b"UPDATE ainarres.tasks SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
            (task.id,),
        )
    again = _next(proj)
    sources = [f["source"] for f in again["feedback"]]
    assert sources == ["note", "review", "blocked", "person", "lease_expiry"]
    reasons = [f["reason"] for f in again["feedback"]]
    assert reasons[2:4] == ["needs a decision", "use plan B"]
    text = proj.board.run("next", family=IMPLEMENTER)
    assert text.returncode == 5  # nothing else to claim; the task is held


def test_integrate_refuses_to_ship_unchecked_unless_told(proj: Project) -> None:
    """Main without [checks]: integrate refuses, says how to configure them, and changes
    nothing; --no-checks ships and says it was unchecked."""
    proj.approved_task("x.txt", claim=False)
    config = git(proj.clone, "show", "origin/main:ainarres.toml")
    git(proj.clone, "checkout", "--quiet", "--detach", "origin/main")
    git(proj.clone, "rm", "--quiet", "ainarres.toml")
    git(proj.clone, "commit", "--quiet", "--no-gpg-sign", "-m", "drop the checks")
    git(proj.hub, "fetch", "--quiet", str(proj.clone), f"+HEAD:{MAIN}")  # past the gate, as admin
    before = proj.board.snapshot()
    refused = proj.board.run("integrate", "--family", INTEGRATOR)
    assert refused.returncode == 2
    assert "main has no ainarres.toml" in refused.stderr and "[checks]" in refused.stderr
    assert proj.board.snapshot() == before
    shipped = proj.board.run("integrate", "--family", INTEGRATOR, "--no-checks")
    assert shipped.returncode == 0, shipped.stderr
    assert "checks are OFF for this run" in shipped.stderr + shipped.stdout
    assert "1 shipped" in shipped.stdout
    assert "[checks]" in config


def test_hub_init_proposes_checks_and_adds_them_when_asked(proj: Project, tmp_path: Path) -> None:
    project = tmp_path / "lib"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    (project / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
    proposed = proj.board.run(
        "hub", "init", "--from", str(project), "--path", str(tmp_path / "hub2.git")
    )
    assert proposed.returncode == 0, proposed.stderr
    assert "this looks like `python -m pytest -q`" in proposed.stderr
    added = proj.board.run(
        "hub",
        "init",
        "--from",
        str(project),
        "--path",
        str(tmp_path / "hub3.git"),
        "--checks",
        "python -m pytest -q",
    )
    assert added.returncode == 0, added.stderr
    table = git(tmp_path / "hub3.git", "show", "main:ainarres.toml")
    assert '[checks]\ntest = "python -m pytest -q"' in table


def test_hub_init_of_a_plain_folder_never_takes_the_state_dir(tmp_path: Path) -> None:
    """`hub init --from .` in a project whose .ainarres lives inside it: the credentials
    must not become part of main."""
    project = tmp_path / "plain"
    project.mkdir()
    (project / "app.py").write_text("print('hi')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINARRES_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ainarres", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    try:
        assert run("init").returncode == 0
        made = run("hub", "init", "--from", ".", "--checks", "true")
        assert made.returncode == 0, made.stderr
        files = git(project / ".ainarres" / "hub.git", "ls-tree", "-r", "--name-only", "main")
        assert sorted(files.split()) == ["ainarres.toml", "app.py"]
        assert (project / ".ainarres" / ".gitignore").read_text().splitlines()[-1] == "*"
    finally:
        run("db", "stop")
