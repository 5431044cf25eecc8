"""`ainarres done --next`: the done and the next claim in one transaction, from a shell."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, Project

GIT_ENV = {"GIT_AUTHOR_NAME": "P", "GIT_AUTHOR_EMAIL": "p@x.test", "GIT_COMMITTER_NAME": "P",
           "GIT_COMMITTER_EMAIL": "p@x.test"}  # fmt: skip


def _commit(worktree: Path, name: str) -> None:
    (worktree / name).write_text(f"{name}\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["add", name], ["commit", "-q", "--no-gpg-sign", "-m", f"add {name}"]):
        subprocess.run(["git", *args], cwd=worktree, check=True, env=env, capture_output=True)


def test_done_next_records_done_and_claims_the_next_in_one_go(proj: Project) -> None:
    designer = proj.agent(DESIGNER)
    first = must(designer.create_task("first", priority=5).task)
    second = must(designer.create_task("second").task)
    got = json.loads(proj.board.run("next", "--json", family=IMPLEMENTER).stdout)
    assert got["task"]["id"] == str(first.id)
    _commit(Path(got["worktree"]), "ONE.md")
    assert proj.board.run("push", first.short_id, family=IMPLEMENTER).returncode == 0
    both = proj.board.run("done", first.short_id, "--next", "--json", family=IMPLEMENTER)
    assert both.returncode == 0, both.stderr
    out = json.loads(both.stdout)
    assert out["done"]["outcome"] == "ok" and out["task"]["id"] == str(second.id)
    assert Path(out["worktree"]).is_dir()  # the next one's worktree, ready
    with proj.board.operator() as conn:
        [done_tx] = rows(conn, "SELECT xmin::text AS tx FROM ainarres.events WHERE kind = "
                               "'advanced' AND task_id = %s", first.id)  # fmt: skip
        [claimed_tx] = rows(conn, "SELECT xmin::text AS tx FROM ainarres.events WHERE kind = "
                                  "'claimed' AND task_id = %s", second.id)  # fmt: skip
    assert done_tx["tx"] == claimed_tx["tx"]  # written by one transaction
    # the second is remembered: done without naming an epoch works, and --next says empty
    _commit(Path(out["worktree"]), "TWO.md")
    assert proj.board.run("push", second.short_id, family=IMPLEMENTER).returncode == 0
    last = proj.board.run("done", second.short_id, "--next", family=IMPLEMENTER)
    assert last.returncode == 5, last.stderr
    assert last.stdout.startswith("done: ") and "nothing to do" in last.stderr


def test_done_next_refused_done_claims_nothing(proj: Project) -> None:
    designer = proj.agent(DESIGNER)
    task = must(designer.create_task("not pushed").task)
    must(designer.create_task("waiting").task)
    got = json.loads(proj.board.run("next", "--json", family=IMPLEMENTER).stdout)
    assert got["task"]["id"] == str(task.id)
    before = proj.board.snapshot()
    refused = proj.board.run("done", task.short_id, "--next", family=IMPLEMENTER)
    assert refused.returncode != 0 and "push your work first" in refused.stderr
    assert proj.board.snapshot() == before  # not done, and nothing else claimed
