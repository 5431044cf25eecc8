"""Agents' task worktrees, pruning them, committing in them, and scratch checkouts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from githelpers import commit_file, git_out

from ainarres.errors import AinarresError, BadInput
from ainarres.git.clone import ensure_bare_mirror
from ainarres.git.hub import Hub
from ainarres.git.push import clone_hub
from ainarres.git.trusted import LayoutChanged
from ainarres.git.worktree import (
    Kept,
    Worktree,
    commit_all,
    isolated_checkout,
    prepare_task_worktree,
    prune_worktrees,
    sweep_scratch,
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
    assert first.layout is not None
    pushed = commit_all(first.layout, "First go", AGENT)
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
    prepare(hub, tmp_path, branch="task/8")
    other = tmp_path / "other.git"
    git_out(tmp_path, "init", "--quiet", "--bare", str(other))
    with pytest.raises(BadInput, match="is a copy of .*, not of"):
        prepare_task_worktree(str(other), tmp_path / "a" / "clone", tmp_path / "wt", "task/9")
    (tmp_path / "a" / "wt" / "task_10").symlink_to(tmp_path)
    with pytest.raises(BadInput, match="is outside|is not a worktree of task/10"):
        prepare(hub, tmp_path, branch="task/10")


def test_a_leftover_folder_in_the_worktrees_root_is_cleared(hub: Hub, tmp_path: Path) -> None:
    """A folder no git record points at (a killed `worktree add`, a rebuilt clone) holds
    nothing git could commit: it is removed and the worktree made, with a note."""
    prepare(hub, tmp_path)
    leftover = tmp_path / "a" / "wt" / "task_8"
    leftover.mkdir(parents=True)
    (leftover / "junk").write_text("x")
    wt = prepare(hub, tmp_path, branch="task/8")
    assert wt.path == leftover and not (leftover / "junk").exists()
    assert any("a leftover folder no worktree record points at" in n for n in wt.notes)


def test_worktrees_of_an_older_copy_are_moved_aside_not_lost(hub: Hub, tmp_path: Path) -> None:
    """Worktrees made from another copy (an older version's clones/, or a copy removed by
    hand) may hold work: a new copy moves them aside, whole, and says where."""
    old = prepare(hub, tmp_path)
    (old.path / "draft.txt").write_text("not committed yet\n")
    shutil.rmtree(tmp_path / "a" / "clone")
    wt = prepare(hub, tmp_path)
    aside = tmp_path / "a" / f"wt_moved-{os.getpid()}"
    assert (aside / "task_7" / "draft.txt").read_text() == "not committed yet\n"
    assert wt.notes == (
        f"moved {tmp_path / 'a' / 'wt'} to {aside}: its worktrees belong to an older copy "
        "of the hub; take what you need from them, then remove it",
    )
    assert wt.path == old.path and not wt.reused and git_out(wt.path, "status", "--porcelain") == ""


def test_reading_the_copy_leaves_the_agents_task_branches_alone(hub: Hub, tmp_path: Path) -> None:
    """The agent's reviews and plans read the same copy its worktrees hang off: refreshing
    it for them follows the hub's main and branches, and never touches local work."""
    wt = prepare(hub, tmp_path)
    local = commit_file(wt.path, "local.txt", "unpushed\n")
    other = clone_hub(hub.path, tmp_path / "other")
    branch = land(hub, other, "HEAD", "refs/heads/task/9")
    commit_file(other, "M.md", "main moved\n")
    main = land(hub, other, "HEAD", "refs/heads/main")
    copy = tmp_path / "a" / "clone"
    assert ensure_bare_mirror(str(hub.path), copy) == copy
    assert git_out(copy, "rev-parse", "refs/heads/main", "refs/remotes/origin/task/9") == (
        f"{main}\n{branch}"
    )
    assert git_out(copy, "rev-parse", "refs/heads/task/7") == head(wt.path) == local
    again = prepare(hub, tmp_path)
    assert again.reused and again.notes == (
        "task/7 has 1 commit(s) not on the hub; kept, push them",
    )


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
    assert wt.layout is not None
    assert commit_all(wt.layout, "nothing", AGENT) is None
    (wt.path / "new.txt").write_text("new\n")
    (wt.path / "README.md").write_text("changed\n")
    (wt.path / "sandbox" / "stats.py").unlink()
    made = commit_all(wt.layout, "-m looks like an option\n\nbody", AGENT)
    assert made == head(wt.path)
    assert git_out(wt.path, "status", "--porcelain") == ""
    changed = git_out(wt.path, "show", "--name-status", "--format=", made)
    assert sorted(changed.splitlines()) == ["A\tnew.txt", "D\tsandbox/stats.py", "M\tREADME.md"]
    shown = git_out(wt.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", made)
    assert shown == "Agent One <a1@agents.test>|Agent One <a1@agents.test>|-m looks like an option"


EVIL = "#!/bin/sh\ntouch {mark}\n"


def _plant_own_git_dir(wt: Path, clone: Path, mark: Path) -> None:
    """Finding 1 of the red team: the tool swaps the worktree's .git pointer for a git
    folder of its own, reusing the real objects, with programs of its choosing in the
    places git runs them from."""
    (wt / ".git").unlink()
    git_out(wt.parent, "init", "--quiet", str(wt))
    shutil.rmtree(wt / ".git" / "objects")
    (wt / ".git" / "objects").symlink_to(clone / "objects")
    evil = wt.parent / "evil.sh"
    evil.write_text(EVIL.format(mark=mark))
    evil.chmod(0o755)
    hook = wt / ".git" / "hooks" / "pre-commit"
    hook.write_text(EVIL.format(mark=mark))
    hook.chmod(0o755)
    for key, value in (
        ("core.fsmonitor", str(evil)),
        ("gpg.ssh.program", str(evil)),
        ("core.hooksPath", str(wt / ".git" / "hooks")),
    ):
        git_out(wt, "config", key, value)


def test_commit_refuses_a_worktree_whose_git_data_was_swapped(hub: Hub, tmp_path: Path) -> None:
    wt = prepare(hub, tmp_path)
    assert wt.layout is not None
    mark = tmp_path / "pwned"
    _plant_own_git_dir(wt.path, tmp_path / "a" / "clone", mark)
    (wt.path / "work.txt").write_text("the tool's work\n")
    with pytest.raises(LayoutChanged, match="was replaced or changed"):
        commit_all(wt.layout, "should not happen", AGENT)
    assert not mark.exists()  # no planted program ran
    # the next prepare throws that worktree away, runs nothing in it, and makes a new one
    again = prepare(hub, tmp_path)
    assert not mark.exists()
    assert any("threw away the worktree of task/7" in n for n in again.notes)
    assert git_out(again.path, "rev-parse", "--git-common-dir").endswith("/a/clone")


def test_commit_refuses_a_repository_made_inside_the_worktree(hub: Hub, tmp_path: Path) -> None:
    wt = prepare(hub, tmp_path)
    assert wt.layout is not None
    nested = wt.path / "vendor" / "lib"
    nested.mkdir(parents=True)
    git_out(nested, "init", "--quiet")
    with pytest.raises(LayoutChanged, match="a git repository was made inside the worktree"):
        commit_all(wt.layout, "x", AGENT)


def test_a_pointer_to_another_repository_is_refused(hub: Hub, tmp_path: Path) -> None:
    wt = prepare(hub, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    git_out(tmp_path, "init", "--quiet", str(elsewhere))
    (wt.path / ".git").write_text(f"gitdir: {elsewhere / '.git'}\n")
    from ainarres.git import trusted

    with pytest.raises(LayoutChanged):
        trusted.record(wt.path, tmp_path / "a" / "clone")


def test_stale_locks_and_half_made_records_are_repaired(hub: Hub, tmp_path: Path) -> None:
    """What a SIGKILL leaves in a clone (issue: caches are disposable)."""
    first = prepare(hub, tmp_path)
    git_dir = tmp_path / "a" / "clone"
    (git_dir / "index.lock").write_text("")
    (git_dir / "packed-refs.lock").write_text("")
    half = git_dir / "worktrees" / "task_99"
    half.mkdir()
    (half / "locked").write_text("initializing")
    (half / "gitdir").write_text(str(tmp_path / "a" / "wt" / "task_99" / ".git") + "\n")
    (half / "HEAD").write_text("0" * 40 + "\n")
    (tmp_path / "a" / "wt" / "task_99").mkdir()
    again = prepare(hub, tmp_path)
    assert again.path == first.path and again.reused
    assert not (git_dir / "index.lock").exists() and not half.exists()
    assert not (tmp_path / "a" / "wt" / "task_99").exists()
    assert any("killed `git worktree add`" in n for n in again.notes)
    assert any("stale index.lock" in n for n in again.notes)


def test_an_unusable_clone_is_rebuilt_from_the_hub(hub: Hub, tmp_path: Path) -> None:
    prepare(hub, tmp_path)
    clone = tmp_path / "a" / "clone"
    # Lost objects heal by themselves (the next fetch brings them again); a broken config
    # and refs do not: git cannot even tell what this clone is.
    (clone / "config").write_text("[core\n garbage")
    (clone / "HEAD").write_text("ref: refs/heads/\n")
    again = prepare(hub, tmp_path, branch="task/8")
    assert any(n.startswith(f"rebuilt {clone} from the hub") for n in again.notes)
    assert head(again.path) == git_out(hub.path, "rev-parse", "main")


def test_isolated_checkout_writes_nothing_into_the_repo(hub: Hub, tmp_path: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    before = sorted(p.relative_to(hub.path) for p in hub.path.rglob("*"))
    parent = tmp_path / "scratch"
    with isolated_checkout(hub.path, main, parent) as path:
        assert path.parent == parent and path.name.startswith(f"{os.getpid()}-")
        assert head(path) == main
        assert git_out(path, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
        assert (path / "ainarres.toml").is_file()
        (path / "build-output").write_text("left by the checks\n")
        (path / "README.md").write_text("changed by the checks\n")
    assert not path.exists() and os.listdir(parent) == []
    assert sorted(p.relative_to(hub.path) for p in hub.path.rglob("*")) == before


def test_isolated_checkout_is_removed_when_the_body_raises(hub: Hub, tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="checks crashed"),
        isolated_checkout(hub.path, "main", tmp_path / "s") as path,
    ):
        assert path.is_dir()
        raise RuntimeError("checks crashed")
    assert not path.exists()


def test_isolated_checkout_of_an_unknown_commit_leaves_nothing(hub: Hub, tmp_path: Path) -> None:
    with (
        pytest.raises(AinarresError, match="cannot check 111111111111 out"),
        isolated_checkout(hub.path, "1" * 40, tmp_path / "s"),
    ):
        pytest.fail("the body must not run")
    assert os.listdir(tmp_path / "s") == []


def test_sweep_scratch_removes_only_dead_processes_checkouts(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    scratch = tmp_path / "scratch"
    (scratch / f"{dead.pid}-abcd").mkdir(parents=True)
    (scratch / f"{os.getpid()}-abcd").mkdir()
    assert sweep_scratch(scratch) == [scratch / f"{dead.pid}-abcd"]
    assert os.listdir(scratch) == [f"{os.getpid()}-abcd"]


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
