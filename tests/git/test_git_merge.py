"""In-memory merges on a bare repository, merge messages, and trailers along main."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from githelpers import commit_file, git_out

from ainarres.errors import AinarresError, BadInput
from ainarres.git.history import (
    FirstParent,
    MergedTree,
    first_parents_since,
    is_ancestor,
    merge_tree,
    merge_trees,
    tree_changes,
)
from ainarres.git.hub import Hub
from ainarres.git.merge import (
    merge_base,
    merge_in_memory,
    merge_message,
    trailers_on_first_parent,
)
from ainarres.git.push import clone_hub

INTEGRATOR = ("Integrator Bot", "integrator@hub.test")


def land(hub: Hub, clone: Path, branch: str) -> str:
    """Copy ``branch`` of ``clone`` into the hub and return its tip.

    A fetch run inside the hub, not a push: the gate is not under test here, and this
    keeps these tests independent of its rules.
    """
    git_out(hub.path, "fetch", "--quiet", str(clone), f"+refs/heads/{branch}:refs/heads/{branch}")
    return git_out(hub.path, "rev-parse", f"refs/heads/{branch}")


def branch_with(clone: Path, branch: str, start: str, files: dict[str, str | None]) -> None:
    """Make ``branch`` from ``start`` with one commit writing (or, for None, deleting) files."""
    git_out(clone, "checkout", "--quiet", "-B", branch, start)
    for name, text in files.items():
        if text is None:
            git_out(clone, "rm", "--quiet", name)
        else:
            (clone / name).write_text(text)
            git_out(clone, "add", name)
    git_out(clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"work on {branch}")


def refs(repo: Path) -> str:
    return git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.fixture
def work(hub: Hub, tmp_path: Path) -> Path:
    return clone_hub(hub.path, tmp_path / "work")


def test_clean_merge_in_a_bare_repo_has_both_changes_and_moves_no_ref(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"a.txt": "from a\n"})
    branch_with(work, "task/b", main, {"b.txt": "from b\n", "README.md": "rewritten by b\n"})
    ours, theirs = land(hub, work, "task/a"), land(hub, work, "task/b")
    before = refs(hub.path)
    result = merge_in_memory(hub.path, ours, theirs, "Merge task 1: b\n", INTEGRATOR)
    assert result.conflicts == [] and not result.already_merged
    assert result.commit is not None
    assert refs(hub.path) == before
    assert not (hub.path / "index").exists()
    parents = git_out(hub.path, "log", "-1", "--format=%P", result.commit).split()
    assert parents == [ours, theirs]
    assert git_out(hub.path, "show", f"{result.commit}:a.txt") == "from a"
    assert git_out(hub.path, "show", f"{result.commit}:b.txt") == "from b"
    assert git_out(hub.path, "show", f"{result.commit}:README.md") == "rewritten by b"
    who = git_out(hub.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", result.commit)
    assert who == "Integrator Bot <integrator@hub.test>|Integrator Bot <integrator@hub.test>|" + (
        "Merge task 1: b"
    )
    git_out(hub.path, "fsck", "--no-dangling", "--strict")


def test_conflicts_list_exactly_the_conflicting_paths(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(
        work,
        "task/a",
        main,
        {"README.md": "ours\n", "sandbox/stats.py": None, "only-a.txt": "a\n"},
    )
    branch_with(
        work,
        "task/b",
        main,
        {"README.md": "theirs\n", "sandbox/stats.py": "changed\n", "only-b.txt": "b\n"},
    )
    ours, theirs = land(hub, work, "task/a"), land(hub, work, "task/b")
    before = refs(hub.path)
    result = merge_in_memory(hub.path, ours, theirs, "m", INTEGRATOR)
    assert result.commit is None and not result.already_merged
    assert result.conflicts == ["README.md", "sandbox/stats.py"]
    assert refs(hub.path) == before


def test_a_branch_main_already_contains_is_reported_not_merged(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"a.txt": "a\n"})
    task = land(hub, work, "task/a")
    branch_with(work, "later", task, {"c.txt": "c\n"})
    later = land(hub, work, "later")
    for ours, theirs in ((later, task), (task, task)):
        result = merge_in_memory(hub.path, ours, theirs, "m", INTEGRATOR)
        assert (result.commit, result.conflicts, result.already_merged) == (None, [], True)


def test_a_fast_forwardable_branch_still_gets_a_merge_commit(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"a.txt": "a\n"})
    task = land(hub, work, "task/a")
    result = merge_in_memory(hub.path, main, task, "m", INTEGRATOR)
    assert result.commit is not None
    assert git_out(hub.path, "log", "-1", "--format=%P", result.commit).split() == [main, task]
    assert git_out(hub.path, "rev-parse", f"{result.commit}^{{tree}}") == git_out(
        hub.path, "rev-parse", f"{task}^{{tree}}"
    )


def test_the_merge_is_the_same_whatever_the_repositorys_merge_config(hub: Hub, work: Path) -> None:
    """One side moves the folder sandbox/ to lib/, the other adds sandbox/new.py. Where
    new.py belongs depends on merge.directoryRenames; the gate (with the hub's config) and
    integrate (with the mirror's and the integrator's) must compute the same, so it is
    pinned to git's default, which calls it a conflict."""
    main = git_out(hub.path, "rev-parse", "main")
    git_out(work, "checkout", "--quiet", "-B", "task/move", main)
    git_out(work, "mv", "sandbox", "lib")
    git_out(work, "commit", "--quiet", "--no-gpg-sign", "-m", "move")
    branch_with(work, "task/add", main, {"sandbox/new.py": "new\n"})
    ours, theirs = land(hub, work, "task/move"), land(hub, work, "task/add")
    for setting in (None, "true", "false"):
        if setting is not None:
            git_out(hub.path, "config", "merge.directoryRenames", setting)
            # git itself would now merge them cleanly, each setting its own way
            assert git_out(hub.path, "merge-tree", "--write-tree", ours, theirs)
        result = merge_in_memory(hub.path, ours, theirs, "m", INTEGRATOR)
        assert (result.commit, result.conflicts) == (None, ["lib/new.py"]), setting
        assert merge_tree(hub.path, ours, theirs, os.environ) == MergedTree(None, ("lib/new.py",))


def test_merge_drivers_apply_in_a_worktree_but_not_in_memory(hub: Hub, work: Path) -> None:
    """`merge=union` in the tree's .gitattributes: `git merge` in a worktree unions both
    sides' lines; merge_in_memory (git merge-tree in a bare repository) reports a
    conflict, and so would the gate. Written down in merge_in_memory's docstring."""
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "base", main, {".gitattributes": "*.log merge=union\n", "x.log": "a\n"})
    base = land(hub, work, "base")
    branch_with(work, "task/one", base, {"x.log": "a\none\n"})
    branch_with(work, "task/two", base, {"x.log": "a\ntwo\n"})
    ours, theirs = land(hub, work, "task/one"), land(hub, work, "task/two")
    result = merge_in_memory(hub.path, ours, theirs, "m", INTEGRATOR)
    assert (result.commit, result.conflicts) == (None, ["x.log"])
    assert merge_tree(hub.path, ours, theirs, os.environ) == MergedTree(None, ("x.log",))
    git_out(work, "checkout", "--quiet", "task/one")
    git_out(work, "merge", "--quiet", "--no-edit", "--no-gpg-sign", "task/two")
    assert (work / "x.log").read_text() == "a\none\ntwo\n"


def test_tree_changes_names_what_a_tree_adds_changes_and_removes(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "other", main, {"README.md": "changed\n", "new file.txt": "n\n"})
    git_out(work, "rm", "--quiet", "-r", "sandbox")
    git_out(work, "commit", "--quiet", "--no-gpg-sign", "-m", "remove")
    other = land(hub, work, "other")
    old, new = (git_out(hub.path, "rev-parse", f"{c}^{{tree}}") for c in (main, other))
    changes = tree_changes(hub.path, old, new, os.environ)
    removed = git_out(hub.path, "ls-tree", "-r", "--name-only", main, "sandbox").splitlines()
    assert sorted(changes) == sorted(
        [("M", "README.md"), ("A", "new file.txt"), *(("D", p) for p in removed)]
    )
    assert tree_changes(hub.path, old, old, os.environ) == []


def test_merge_trees_runs_side_by_side_and_answers_in_order(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"README.md": "a\n"})
    branch_with(work, "task/b", main, {"README.md": "b\n"})
    branch_with(work, "task/c", main, {"c.txt": "c\n"})
    a, b, c = (land(hub, work, f"task/{n}") for n in "abc")
    pairs = [(a, c), (a, b), (b, c), (c, a)] * 3
    expected = [merge_tree(hub.path, ours, theirs, os.environ) for ours, theirs in pairs]
    assert expected[1] == MergedTree(None, ("README.md",))
    assert expected[0].tree is not None and expected[2].tree not in (None, expected[0].tree)
    for jobs in (1, 2, 5, None):
        assert merge_trees(hub.path, pairs, os.environ, jobs) == expected
    assert merge_trees(hub.path, [], os.environ) == []
    with pytest.raises(RuntimeError, match="git merge-tree"):
        merge_trees(hub.path, [(a, c), ("1" * 40, c), (b, c)], os.environ, 2)


def test_merging_unrelated_histories_is_an_error(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    git_out(work, "checkout", "--quiet", "--orphan", "lonely")
    git_out(work, "commit", "--quiet", "--no-gpg-sign", "-m", "no common history")
    lonely = land(hub, work, "lonely")
    with pytest.raises(AinarresError, match="refusing to merge unrelated histories"):
        merge_in_memory(hub.path, main, lonely, "m", INTEGRATOR)


def test_merge_base_is_where_two_branches_forked(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"a.txt": "a\n"})
    branch_with(work, "task/b", main, {"b.txt": "b\n"})
    a, b = land(hub, work, "task/a"), land(hub, work, "task/b")
    assert merge_base(hub.path, a, b) == main
    assert merge_base(hub.path, main, a) == main
    git_out(work, "checkout", "--quiet", "--orphan", "alone")
    git_out(work, "commit", "--quiet", "--no-gpg-sign", "-m", "no common history")
    assert merge_base(hub.path, main, land(hub, work, "alone")) is None


def test_unknown_commit_and_non_repository_are_errors(hub: Hub, tmp_path: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    with pytest.raises(AinarresError, match="is not a commit"):
        merge_in_memory(hub.path, main, "1" * 40, "m", INTEGRATOR)
    with pytest.raises(AinarresError, match="is not a git repository"):
        merge_in_memory(tmp_path, main, main, "m", INTEGRATOR)


def test_merge_message_format_and_sanitizing() -> None:
    trailers = {
        "Ainarres-Task": "42",
        "Ainarres-Implemented-By": "claude+opus/a1",
        "Ainarres-Reviewed-By": "codex+gpt\nAinarres-Integrated-By: forged",
    }
    text = merge_message("Fix the\ntokenizer  ", trailers)
    assert text == (
        "Merge task 42: Fix the tokenizer\n"
        "\n"
        "Ainarres-Task: 42\n"
        "Ainarres-Implemented-By: claude+opus/a1\n"
        "Ainarres-Reviewed-By: codex+gpt Ainarres-Integrated-By: forged\n"
    )
    with pytest.raises(BadInput, match="trailer key"):
        merge_message("t", {"Bad Key": "x"})
    with pytest.raises(BadInput, match="empty value"):
        merge_message("t", {"Ainarres-Task": " \n "})


def test_trailers_round_trip_through_a_merge_commit(hub: Hub, work: Path) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    branch_with(work, "task/a", main, {"a.txt": "a\n"})
    task = land(hub, work, "task/a")
    trailers = {
        "Ainarres-Task": "42",
        "Ainarres-Implemented-By": "claude+opus/a1",
        "Ainarres-Reviewed-By": "codex+gpt/r1",
        "Ainarres-Integrated-By": "integrator@hub.test",
    }
    merged = merge_in_memory(hub.path, main, task, merge_message("A", trailers), INTEGRATOR)
    assert merged.commit is not None
    # git itself must read the same trailers, since the gate and humans use git.
    parsed = git_out(hub.path, "show", "-s", "--format=%(trailers:only,unfold)", merged.commit)
    assert parsed.splitlines() == [f"{k}: {v}" for k, v in trailers.items()]
    assert trailers_on_first_parent(hub.path, merged.commit, "Ainarres-Task") == {
        "42": merged.commit
    }
    # ...and the gate's walk of the pushed range finds the task in it.
    tree = git_out(hub.path, "rev-parse", f"{merged.commit}^{{tree}}")
    assert first_parents_since(hub.path, main, merged.commit, os.environ) == [
        FirstParent(merged.commit, tree, (main, task), "42")
    ]


def test_trailers_on_first_parent_ignores_branch_history_and_honours_limit(
    hub: Hub, work: Path
) -> None:
    main = git_out(hub.path, "rev-parse", "main")
    tips = []
    tip = main
    for n in (1, 2):
        branch_with(work, f"task/{n}", main, {f"f{n}.txt": f"{n}\n"})
        # A commit inside a task branch that merely looks like a merge onto main.
        commit_file(work, f"g{n}.txt", "x\n")
        git_out(
            work, "commit", "--quiet", "--amend", "--no-gpg-sign", "-m", "x\n\nAinarres-Task: 99"
        )
        task = land(hub, work, f"task/{n}")
        message = merge_message(f"t{n}", {"Ainarres-Task": str(n)})
        result = merge_in_memory(hub.path, tip, task, message, INTEGRATOR)
        assert result.commit is not None
        tip = result.commit
        tips.append(tip)
    key = "Ainarres-Task"
    assert trailers_on_first_parent(hub.path, tip, key) == {"1": tips[0], "2": tips[1]}
    assert trailers_on_first_parent(hub.path, tip, key, limit=1) == {"2": tips[1]}
    assert trailers_on_first_parent(hub.path, tip, "Ainarres-Other") == {}


def fast_import(repo: Path, count: int, ref: str = "refs/heads/line") -> list[str]:
    """Append ``count`` empty commits to ``ref`` quickly; return their ids in order."""
    lines = []
    for n in range(1, count + 1):
        message = f"commit {n} on {ref}\n"
        lines += [f"commit {ref}", f"mark :{n}"]
        lines += ["committer T <t@example.test> 1700000000 +0000", f"data {len(message)}", message]
    marks = repo / "marks"
    stream = "\n".join(lines).encode() + b"\n"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}", "--force"],
        cwd=repo,
        input=stream,
        check=True,
    )
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    return [by_mark[f":{n}"] for n in range(1, count + 1)]


@pytest.fixture
def long_history(tmp_path: Path) -> tuple[Path, list[str]]:
    repo = tmp_path / "long.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    return repo, fast_import(repo, 2003)


def test_first_parents_since_reads_only_the_new_commits(
    long_history: tuple[Path, list[str]],
) -> None:
    repo, ids = long_history
    old, new = ids[1999], ids[2002]
    infos = first_parents_since(repo, old, new, os.environ)
    assert [i.oid for i in infos] == ids[2000:2003]
    assert [i.parents for i in infos] == [(ids[1999],), (ids[2000],), (ids[2001],)]
    assert [i.task_id for i in infos] == [None, None, None]
    assert first_parents_since(repo, new, new, os.environ) == []
    assert first_parents_since(repo, new, old, os.environ) == []  # nothing new in old
    assert is_ancestor(repo, old, new, os.environ) and not is_ancestor(repo, new, old, os.environ)


def test_first_parents_since_never_reads_past_old(tmp_path: Path) -> None:
    # `old`'s parent does not exist: a walk beyond `old` would fail to read it.
    repo = tmp_path / "cut.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    tree = git_out(repo, "hash-object", "-t", "tree", "-w", "--stdin")
    who = "T <t@example.test> 1700000000 +0000"
    body = f"tree {tree}\nparent {'ab' * 20}\nauthor {who}\ncommitter {who}\n\nold\n"
    old = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin", "--literally"],
            cwd=repo,
            input=body.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    new = git_out(repo, "commit-tree", "-p", old, "-m", "new", tree)
    assert [i.oid for i in first_parents_since(repo, old, new, os.environ)] == [new]


def test_first_parents_since_shows_a_main_not_built_on_the_old_one(
    long_history: tuple[Path, list[str]],
) -> None:
    """old reachable only through a second parent: main was rewritten, not merged onto.
    The walk shows the first-parent chain as it is; the gate's policy then refuses it
    because its oldest commit's first parent is not the old main."""
    repo, ids = long_history
    tree = git_out(repo, "rev-parse", f"{ids[0]}^{{tree}}")
    sneaky = git_out(repo, "commit-tree", "-p", ids[3], "-p", ids[10], "-m", "m", tree)
    [only] = first_parents_since(repo, ids[10], sneaky, os.environ)
    assert only.parents == (ids[3], ids[10]) and only.parents[0] != ids[10]
    assert is_ancestor(repo, ids[10], sneaky, os.environ)
