"""The gate checks what a merge on main holds, not only who made it (real pushes).

Each merge on main must hold exactly the tree `git merge-tree --write-tree` computes for
its two parents. An integrator could otherwise sign a merge with the right parents, the
right trailer, a claimed task and the approved head, and slip in a change nobody
reviewed (an "evil merge").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from scenario import INTEGRATOR, MAIN, Project, git

from ainarres.git.merge import merge_in_memory, merge_message

REFUSED_MAIN = "ainarres gate: refused refs/heads/main: "
EVIL_REMEDY = (
    "; merge with `ainarres integrate`, whose merge commit holds exactly git's merge of the "
    "two parents"
)
WHO = ("ainarres integrator", f"{INTEGRATOR}@ainarres")


def tree(proj: Project, rev: str) -> str:
    return git(proj.clone, "rev-parse", f"{rev}^{{tree}}")


def parents(proj: Project, rev: str) -> list[str]:
    return git(proj.clone, "log", "-1", "--format=%P", rev).split()


def short(task: UUID) -> str:
    return "…" + str(task).replace("-", "")[-4:]


def amended(proj: Project, merge: str, change: Callable[[Path], object]) -> str:
    """The same merge (parents, message, trailer) with `change` made to its files."""
    git(proj.clone, "checkout", "--quiet", "--detach", merge)
    change(proj.clone)
    git(proj.clone, "add", "--all")
    git(proj.clone, "commit", "--quiet", "--amend", "--no-edit", "--no-gpg-sign")
    evil = git(proj.clone, "rev-parse", "HEAD")
    assert parents(proj, evil) == parents(proj, merge) and evil != merge
    assert git(proj.clone, "log", "-1", "--format=%B", evil) == git(
        proj.clone, "log", "-1", "--format=%B", merge
    )
    return evil


def integrate_merge(proj: Project, onto: str, head: str, task: UUID) -> str:
    """The merge commit `ainarres integrate` writes, made with its own function."""
    message = merge_message("t", {"Ainarres-Task": str(task), "Ainarres-Integrated-By": "x"})
    result = merge_in_memory(proj.clone, onto, head, message, WHO)
    assert result.commit is not None, result
    return result.commit


def test_gate_refuses_a_merge_that_adds_changes_or_removes_a_file(proj: Project) -> None:
    task, head, _ = proj.approved_task("feature.txt")
    main = proj.hub_ref(MAIN)
    honest = proj.merge_commit(head, task)
    changes: dict[str, tuple[Callable[[Path], object], str]] = {
        "extra file": (lambda wt: (wt / "extra.txt").write_text("unreviewed\n"), "adds extra.txt"),
        "changed file": (
            lambda wt: (wt / "README.md").write_text("rewritten at the merge\n"),
            "changes README.md",
        ),
        "removed file": (lambda wt: (wt / "feature.txt").unlink(), "removes feature.txt"),
    }
    for name, (change, described) in changes.items():
        evil = amended(proj, honest, change)
        result = proj.push(f"{evil}:{MAIN}", INTEGRATOR)
        assert result.remote_lines == (
            REFUSED_MAIN + f"commit {evil[:12]}: tree {tree(proj, evil)[:12]} is not the merge "
            f"of its parents (git merge-tree gives {tree(proj, honest)[:12]}): it {described}"
            + EVIL_REMEDY,
        ), name
        assert proj.hub_ref(MAIN) == main, name
    # The honest merge of the very same parents, trailer and claim goes through.
    accepted = proj.push(f"{honest}:{MAIN}", INTEGRATOR)
    assert accepted.ok, accepted.remote_lines
    assert proj.hub_ref(MAIN) == honest


def test_gate_checks_each_merge_of_a_batch_and_takes_integrates_own(proj: Project) -> None:
    first, second = proj.approved_task("one.txt"), proj.approved_task("two.txt")
    main = proj.hub_ref(MAIN)
    assert main is not None
    m1 = integrate_merge(proj, main, first[1], first[0])
    m2 = integrate_merge(proj, m1, second[1], second[0])
    # integrate's merge is git's merge: the same tree as `git merge` in a worktree.
    assert tree(proj, m2) == tree(proj, proj.merge_commit(second[1], second[0], onto=m1))
    evil = amended(proj, m2, lambda wt: (wt / "one.txt").write_text("edited\n"))
    refused = proj.push(f"{evil}:{MAIN}", INTEGRATOR)
    assert refused.remote_lines == (
        REFUSED_MAIN + f"commit {evil[:12]}: tree {tree(proj, evil)[:12]} is not the merge of "
        f"its parents (git merge-tree gives {tree(proj, m2)[:12]}): it changes one.txt"
        + EVIL_REMEDY,
    )
    assert proj.hub_ref(MAIN) == main
    accepted = proj.push(f"{m2}:{MAIN}", INTEGRATOR)
    assert accepted.ok, accepted.remote_lines
    assert proj.hub_ref(MAIN) == m2


def test_gate_refuses_a_merge_of_parents_that_conflict(proj: Project) -> None:
    # Two tasks started from the same main write the same new file differently.
    first = proj.approved_task("shared.txt", "one\n")
    second = proj.approved_task("shared.txt", "two\n")
    m1 = proj.merge_commit(first[1], first[0])
    assert proj.push(f"{m1}:{MAIN}", INTEGRATOR).ok
    # integrate reports the conflict instead of writing a merge...
    message = merge_message("t", {"Ainarres-Task": str(second[0])})
    result = merge_in_memory(proj.clone, m1, second[1], message, WHO)
    assert (result.commit, result.conflicts) == (None, ["shared.txt"])
    # ...and a merge whose conflict was resolved by hand, at the merge, is refused.
    git(proj.clone, "checkout", "--quiet", "--detach", m1)
    (proj.clone / "shared.txt").write_text("one\ntwo\n")
    git(proj.clone, "add", "shared.txt")
    resolved = git(
        proj.clone,
        "commit-tree",
        "-p",
        m1,
        "-p",
        second[1],
        "-m",
        f"Merge task\n\nAinarres-Task: {second[0]}",
        git(proj.clone, "write-tree"),
    )
    refused = proj.push(f"{resolved}:{MAIN}", INTEGRATOR)
    assert refused.remote_lines == (
        REFUSED_MAIN + f"commit {resolved[:12]} merges parents that conflict (git merge-tree: "
        f"shared.txt); return task {short(second[0])} so that its branch merges main and "
        "resolves the conflict, and have it reviewed again",
    )
    assert proj.hub_ref(MAIN) == m1
