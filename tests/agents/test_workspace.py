"""An implementer's loop from the shell: next prepares a worktree, push, done, prune."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project, git

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Impl",
    "GIT_AUTHOR_EMAIL": "impl@example.test",
    "GIT_COMMITTER_NAME": "Impl",
    "GIT_COMMITTER_EMAIL": "impl@example.test",
}


def _commit(worktree: Path, name: str, text: str) -> str:
    (worktree / name).write_text(text)
    env = {**GIT_ENV, "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "add", name], cwd=worktree, check=True, env=env)
    subprocess.run(
        ["git", "commit", "-q", "--no-gpg-sign", "-m", f"add {name}"],
        cwd=worktree,
        check=True,
        env=env,
    )
    return git(worktree, "rev-parse", "HEAD")


def test_workspace_next_push_done_return_and_prune(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("word stats").task)
    run = proj.board.run
    claimed = json.loads(run("next", "--json", family=IMPLEMENTER).stdout)
    wt = Path(claimed["worktree"])
    assert wt.is_dir() and git(wt, "branch", "--show-current") == task.branch
    main = proj.hub_ref(MAIN)
    assert claimed["task"]["branch"] == task.branch
    with proj.board.operator() as conn:
        base = rows(conn, "SELECT base_commit FROM ainarres.tasks WHERE id = %s", task.id)
    assert base == [{"base_commit": main}]

    early = run("done", task.short_id, family=IMPLEMENTER)
    assert early.returncode == 1
    assert f"the hub has no {task.branch} yet; push your work first" in early.stderr

    head = _commit(wt, "stats.txt", "words\n")
    pushed = run("push", task.short_id, family=IMPLEMENTER)
    assert pushed.returncode == 0, pushed.stderr
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head
    _commit(wt, "more.txt", "unpushed\n")
    stale = run("done", task.short_id, "--head", git(wt, "rev-parse", "HEAD"), family=IMPLEMENTER)
    assert stale.returncode == 1 and "is not the tip of the hub's" in stale.stderr
    git(wt, "reset", "-q", "--hard", head)
    done = run("done", task.short_id, family=IMPLEMENTER)
    assert done.returncode == 0, done.stderr

    reviewer = proj.agent(REVIEWER)
    review = reviewer.claim_next()
    assert must(review.task).head_commit == head
    reviewer.return_task(task.id, must(review.epoch), "add a test")
    again = json.loads(run("next", "--json", family=IMPLEMENTER).stdout)
    assert Path(again["worktree"]) == wt and git(wt, "rev-parse", "HEAD") == head
    fixed = _commit(wt, "test_stats.txt", "tested\n")
    assert run("push", task.short_id, family=IMPLEMENTER).returncode == 0
    assert run("done", task.short_id, family=IMPLEMENTER).returncode == 0
    review = reviewer.claim_next()
    assert must(review.task).head_commit == fixed
    reviewer.advance(task.id, must(review.epoch))
    assert proj.board.run("integrate", "--family", INTEGRATOR).returncode == 0

    # a second task whose worktree has unmerged work is kept, the shipped one goes
    other = must(proj.agent(DESIGNER).create_task("unfinished").task)
    wt2 = Path(json.loads(run("next", "--json", family=IMPLEMENTER).stdout)["worktree"])
    _commit(wt2, "wip.txt", "wip\n")
    with proj.board.operator() as conn:  # abandon it: not open any more, work not merged
        conn.execute(
            b"UPDATE ainarres.tasks SET open = false, holder_agent = NULL, "
            b"holder_family = NULL, lease_expires_at = NULL WHERE id = %s",
            (other.id,),
        )
    pruned = json.loads(run("worktree", "prune", "--json", family=IMPLEMENTER).stdout)
    assert pruned["removed"] == [task.branch]
    assert [(k["branch"], k["reason"]) for k in pruned["kept"]] == [
        (other.branch, "1 commit(s) not in origin/main")
    ]
    assert not wt.exists() and wt2.exists()
