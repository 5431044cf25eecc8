"""Agents' task worktrees, pruning them, committing in them, and scratch checkouts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from githelpers import commit_file, git_out

from ainarres.errors import AinarresError, BadInput
from ainarres.git.hub import Hub
from ainarres.git.push import clone_hub
from ainarres.git.worktree import (
    Kept,
    Worktree,
    commit_all,
    prepare_task_worktree,
    prune_worktrees,
    scratch_worktree,
    worktree_path_is_inside,
)

AGENT = ("Agent One", "a1@agents.test")


def land(hub: Hub, repo: Path, src: str, dest: str) -> str:
    """Put ``src`` of ``repo`` at ``dest`` in the hub, as a push would (but past no gate)."""
    git_out(hub.path, "fetch", "--quiet", str(repo), f"+{src}:{dest}")
    return git_out(hub.path, "rev-parse", dest)


def head(path: Path) -> str:
    return git_out(path, "rev-parse", "HEAD")


def prepare(hub: Hub, base: Path, branch: str = "task/7", agent: str = "a") -> Worktree:
    return prepare_task_worktree(str(hub.path), base / agent / "clone", base / agent / "wt", branch)


def test_a_fresh_task_starts_at_the_hubs_main(hub: Hub, tmp_path: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    wt = prepare(hub, tmp_path)
    assert wt == Worktree(tmp_path / "a" / "wt" / "task_7", "task/7", main, False, False, ())
    assert git_out(wt.path, "symbolic-ref", "HEAD") == "refs/heads/task/7"
    assert head(wt.path) == main
    assert (wt.path / "sandbox" / "stats.py").is_file()
    assert git_out(wt.path, "status", "--porcelain") == ""
    # A plain `git push` from the worktree goes to the task branch of the same name.
    assert git_out(wt.path, "config", "branch.task/7.merge") == "refs/heads/task/7"


def test_returned_task_reuses_the_worktree_and_follows_the_hub(hub: Hub, tmp_path: Path) -> None:
    start = git_out(hub.path, "rev-parse", "main")
    first = prepare(hub, tmp_path)
    (first.path / "NEW.md").write_text("work\n")
    pushed = commit_all(first.path, "First go", AGENT)
    assert pushed is not None
    land(hub, first.path, "HEAD", "refs/heads/task/7")
    # Meanwhile main moves on, and a reviewer's fix-up lands on the task branch.
    other = clone_hub(hub.path, tmp_path / "other")
    commit_file(other, "MAIN.md", "main moved\n")
    land(hub, other, "HEAD", "refs/heads/main")
    git_out(other, "fetch", "--quiet", "origin", "task/7")
    git_out(other, "checkout", "--quiet", "-b", "task/7", "FETCH_HEAD")
    fixup = commit_file(other, "FIX.md", "fix\n")
    land(hub, other, "HEAD", "refs/heads/task/7")

    again = prepare(hub, tmp_path)
    assert (again.path, again.reused, again.from_hub, again.notes) == (first.path, True, True, ())
    assert head(again.path) == fixup
    assert again.base_commit == start != git_out(hub.path, "rev-parse", "main")

    # Another agent with its own clone picks up the same returned task.
    elsewhere = prepare(hub, tmp_path, agent="b")
    assert (elsewhere.reused, elsewhere.from_hub, elsewhere.base_commit) == (False, True, start)
    assert head(elsewhere.path) == fixup
    assert (elsewhere.path / "NEW.md").read_text() == "work\n"


def test_uncommitted_or_unpushed_work_is_never_reset(hub: Hub, tmp_path: Path) -> None:
    wt = prepare(hub, tmp_path)
    commit_file(wt.path, "A.md", "a\n")
    land(hub, wt.path, "HEAD", "refs/heads/task/7")
    other = clone_hub(hub.path, tmp_path / "other")
    git_out(other, "checkout", "--quiet", "-b", "task/7", "origin/task/7")
    ahead = commit_file(other, "B.md", "b\n")
    land(hub, other, "HEAD", "refs/heads/task/7")

    (wt.path / "A.md").write_text("edited, not committed\n")
    before = head(wt.path)
    dirty = prepare(hub, tmp_path)
    assert head(wt.path) == before
    assert (wt.path / "A.md").read_text() == "edited, not committed\n"
    assert dirty.notes == (f"{wt.path} has uncommitted changes; left as they are, not reset",)

    git_out(wt.path, "checkout", "--quiet", "--", "A.md")
    local = commit_file(wt.path, "C.md", "c\n")
    unpushed = prepare(hub, tmp_path)
    assert head(wt.path) == local
    assert unpushed.notes == ("task/7 has 1 commit(s) not on the hub; kept, push them",)

    git_out(wt.path, "reset", "--quiet", "--hard", "HEAD~1")
    assert head(prepare(hub, tmp_path).path) == ahead


def test_bad_branch_names_and_foreign_folders_are_refused(hub: Hub, tmp_path: Path) -> None:
    for bad in ("main", "HEAD", "task/x..y", "task/x.lock", "-x"):
        with pytest.raises(BadInput, match="cannot be a task branch"):
            prepare(hub, tmp_path, branch=bad)
    (tmp_path / "a" / "wt" / "task_8").mkdir(parents=True)
    (tmp_path / "a" / "wt" / "task_8" / "junk").write_text("x")
    with pytest.raises(BadInput, match="is not a worktree of task/8"):
        prepare(hub, tmp_path, branch="task/8")
    other = tmp_path / "other.git"
    git_out(tmp_path, "init", "--quiet", "--bare", str(other))
    with pytest.raises(BadInput, match="is not a clone of"):
        prepare_task_worktree(str(other), tmp_path / "a" / "clone", tmp_path / "wt", "task/9")


def test_worktree_path_is_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "alias").symlink_to(root / "in")
    assert worktree_path_is_inside(root, root / "task_1")
    assert worktree_path_is_inside(root, Path("task_1"))
    assert worktree_path_is_inside(root, root / "alias" / "x")
    assert not worktree_path_is_inside(root, root)
    assert not worktree_path_is_inside(root, root / ".." / "outside")
    assert not worktree_path_is_inside(root, root / "in" / ".." / "x")
    assert not worktree_path_is_inside(root, outside)
    assert not worktree_path_is_inside(root, root / "escape" / "task_1")


def test_prune_removes_only_merged_clean_worktrees(hub: Hub, tmp_path: Path) -> None:
    trees = {n: prepare(hub, tmp_path, branch=f"task/{n}") for n in (1, 2, 3, 4)}
    tips = {n: commit_file(wt.path, f"f{n}.txt", f"{n}\n") for n, wt in trees.items()}
    clone = tmp_path / "a" / "clone"
    git_out(clone, "branch", "task/5", tips[1])
    # Main on the hub now holds tasks 1, 3 and 4 (and 5), not 2.
    other = clone_hub(hub.path, tmp_path / "other")
    for n in (1, 3, 4):
        git_out(other, "fetch", "--quiet", str(clone), f"task/{n}")
        git_out(other, "merge", "--quiet", "--no-edit", "FETCH_HEAD")
    land(hub, other, "HEAD", "refs/heads/main")
    git_out(clone, "fetch", "--quiet", "origin")
    (trees[3].path / "f3.txt").write_text("changed\n")

    report = prune_worktrees(clone, {"task/4"}, "origin/main")
    assert sorted(report.removed) == ["task/1", "task/5"]
    assert sorted(report.kept, key=lambda k: str(k.branch)) == [
        Kept("task/2", trees[2].path, "1 commit(s) not in origin/main"),
        Kept("task/3", trees[3].path, "uncommitted changes"),
    ]
    assert not trees[1].path.exists()
    assert all(trees[n].path.is_dir() for n in (2, 3, 4))
    branches = git_out(clone, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
    assert sorted(branches) == ["main", "task/2", "task/3", "task/4"]
    with pytest.raises(BadInput, match="is not a commit"):
        prune_worktrees(clone, set(), "origin/nope")


def test_commit_all_commits_everything_or_nothing(hub: Hub, tmp_path: Path) -> None:
    wt = prepare(hub, tmp_path)
    assert commit_all(wt.path, "nothing", AGENT) is None
    (wt.path / "new.txt").write_text("new\n")
    (wt.path / "README.md").write_text("changed\n")
    (wt.path / "sandbox" / "stats.py").unlink()
    made = commit_all(wt.path, "-m looks like an option\n\nbody", AGENT)
    assert made == head(wt.path)
    assert git_out(wt.path, "status", "--porcelain") == ""
    changed = git_out(wt.path, "show", "--name-status", "--format=", made)
    assert sorted(changed.splitlines()) == ["A\tnew.txt", "D\tsandbox/stats.py", "M\tREADME.md"]
    shown = git_out(wt.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", made)
    assert shown == "Agent One <a1@agents.test>|Agent One <a1@agents.test>|-m looks like an option"


def worktree_count(repo: Path) -> int:
    return len(git_out(repo, "worktree", "list", "--porcelain").split("\n\n"))


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at a folder of this test, to see what scratch_worktree leaves."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_scratch_worktree_of_a_bare_repo_is_removed_afterwards(hub: Hub, private_tmp: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    with scratch_worktree(hub.path, main) as path:
        assert path.is_relative_to(private_tmp)
        assert head(path) == main
        assert git_out(path, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
        assert (path / "ainarres.toml").is_file()
        assert worktree_count(hub.path) == 2
        (path / "build-output").write_text("left by the checks\n")
        (path / "README.md").write_text("changed by the checks\n")
    assert not path.exists()
    assert os.listdir(private_tmp) == []
    assert worktree_count(hub.path) == 1
    assert not (hub.path / "worktrees").exists() or not any((hub.path / "worktrees").iterdir())


def test_scratch_worktree_is_removed_when_the_body_raises(hub: Hub, private_tmp: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="checks crashed"),
        scratch_worktree(hub.path, "main") as path,
    ):
        assert path.is_dir()
        raise RuntimeError("checks crashed")
    assert not path.exists()
    assert os.listdir(private_tmp) == []
    assert worktree_count(hub.path) == 1


def test_scratch_worktree_of_an_unknown_commit_leaves_nothing(hub: Hub, private_tmp: Path) -> None:
    with pytest.raises(AinarresError, match="worktree add"), scratch_worktree(hub.path, "1" * 40):
        pytest.fail("the body must not run")
    assert os.listdir(private_tmp) == []
    assert worktree_count(hub.path) == 1


def test_relative_paths_are_taken_from_the_current_folder(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hub_url = os.path.relpath(hub.path, tmp_path)
    first = prepare_task_worktree(hub_url, Path("clone"), Path("wt"), "task/1")
    assert first.path == tmp_path / "wt" / "task_1"
    assert git_out(first.path, "symbolic-ref", "HEAD") == "refs/heads/task/1"
    again = prepare_task_worktree(hub_url, Path("clone"), Path("wt"), "task/1")
    assert (again.path, again.reused) == (first.path, True)
