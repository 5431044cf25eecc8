"""Merge commits made in memory, and the trailers that tie main's history to the board.

The integrator never checks out main: it merges two commits inside the object store
(bare mirror or hub alike) with ``git merge-tree``, as the gate does to check the merge,
writes the merge commit without moving any ref, and pushes it. The trailers on each
merge commit ("Ainarres-Task: 42") are how a restarted integrator, or the gate, tells
which tasks main already holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from ainarres.errors import AinarresError, BadInput
from ainarres.git import history
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.layout import TASK_TRAILER

IMPLEMENTED_BY = "Ainarres-Implemented-By"
REVIEWED_BY = "Ainarres-Reviewed-By"
INTEGRATED_BY = "Ainarres-Integrated-By"

# git's own trailer keys are letters, digits and dashes; anything else (a colon, a
# space) would make git and libgit2 stop reading the block as trailers.
_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class MergeResult:
    """The outcome of :func:`merge_in_memory`.

    Exactly one of these holds: ``commit`` is the new merge commit; ``conflicts`` lists
    the paths that did not merge; ``already_merged`` says ours already contains theirs.
    """

    commit: str | None
    conflicts: list[str] = field(default_factory=list)
    already_merged: bool = False
    hunks: str = ""  # on a conflict: the conflicting hunks, with markers, for the implementer


def _open(repo_path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(repo_path))
    except pygit2.GitError as exc:
        raise AinarresError(
            f"{repo_path} is not a git repository ({exc}); give the path of the hub or its mirror"
        ) from exc


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise AinarresError(
            f"{rev!r} is not a commit in {repo.path}; fetch from the hub and use an existing commit"
        ) from exc


def has_commit(repo_path: Path, oid: str) -> bool:
    """Whether `oid` is a commit in the repository (in-process: no git to start)."""
    try:
        obj = _open(repo_path).get(oid)
    except (ValueError, pygit2.GitError):
        return False
    return isinstance(obj, pygit2.Commit)


def merge_base(repo_path: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, or None when they share no history."""
    repo = _open(repo_path)
    base = repo.merge_base(_commit(repo, one).id, _commit(repo, other).id)
    return None if base is None else str(base)


def merge_in_memory(
    repo_path: Path, ours: str, theirs: str, message: str, author: tuple[str, str]
) -> MergeResult:
    """Merge ``theirs`` (a reviewed task head) into ``ours`` (main's tip) without a checkout.

    The merged tree is ``git merge-tree --write-tree ours theirs`` (:func:`history.merge_tree`),
    the very command and settings the hub's gate runs to check each merge on main, so the
    gate accepts what this writes by construction. On success the merge commit, with parents
    [ours, theirs] and ``author`` as author and committer at the current time, is written
    in-process to the object store of ``repo_path`` (bare or not) and no ref
    moves: pushing it is the caller's job. A task branch that main already contains gives
    ``already_merged=True`` and no commit; a conflict gives the conflicting paths.

    Merge drivers are not applied. In a bare repository (the integrator's mirror, the hub)
    git 2.39's merge-tree reads no ``.gitattributes`` from the merged trees, and the global
    attributes file is pinned off, so a path marked ``merge=union`` conflicts here when both
    sides change the same lines, while ``git merge`` in a worktree, which reads the
    worktree's ``.gitattributes``, would union them. Such a task goes back to its
    implementer as a conflict, to be merged in a worktree. (Given a repository with a
    worktree, git reads the attributes of whatever is checked out there: merge in a bare
    repository, as integrate does in its mirror, to get exactly the gate's tree.)
    """
    repo = _open(repo_path)
    ours_commit = _commit(repo, ours)
    theirs_commit = _commit(repo, theirs)
    if ours_commit.id == theirs_commit.id or repo.descendant_of(ours_commit.id, theirs_commit.id):
        return MergeResult(commit=None, already_merged=True)
    ours_id, theirs_id = str(ours_commit.id), str(theirs_commit.id)
    try:
        merged = history.merge_tree(repo_path, ours_id, theirs_id, clean_env())
    except RuntimeError as exc:
        raise AinarresError(
            f"cannot merge {theirs_id[:12]} into {ours_id[:12]}: {exc}; a task branch must "
            "start from main"
        ) from exc
    if merged.tree is None:
        paths = sorted(set(merged.conflicts))
        hunks = conflict_hunks(repo_path, merged.marked, paths) if merged.marked else ""
        return MergeResult(commit=None, conflicts=paths, hunks=hunks)
    # The commit is written in-process (no git process per merge): the same object as
    # `git commit-tree -p ours -p theirs tree`, author and committer at the current time.
    name, email = author
    signature = pygit2.Signature(name, email)
    oid = repo.create_commit(None, signature, signature, message, pygit2.Oid(hex=merged.tree),
                             [ours_commit.id, theirs_commit.id])  # fmt: skip
    return MergeResult(commit=str(oid))


_HUNK_CONTEXT = 3
_HUNKS_MAX = 20_000


def conflict_hunks(repo_path: Path, marked_tree: str, paths: list[str]) -> str:
    """Each conflicting region of `paths` in the marked tree git's merge wrote, with a few
    lines around it: what the implementer needs to see to resolve it (cut at 20 kB)."""
    parts: list[str] = []
    for path in paths:
        shown = git("show", f"{marked_tree}:{path}", cwd=repo_path, env=clean_env(), check=False)
        if shown.returncode != 0:
            continue  # a conflict of deletion or type: the path says it
        lines = shown.stdout.splitlines()
        starts = [i for i, ln in enumerate(lines) if ln.startswith("<<<<<<< ")]
        for start in starts:
            end = next((i for i in range(start, len(lines)) if lines[i].startswith(">>>>>>> ")),
                       len(lines) - 1)  # fmt: skip
            low, high = max(0, start - _HUNK_CONTEXT), min(len(lines), end + 1 + _HUNK_CONTEXT)
            parts.append(f"--- {path}, lines {low + 1}-{high}\n" + "\n".join(lines[low:high]))
    text = "\n".join(parts)
    return text if len(text) <= _HUNKS_MAX else text[:_HUNKS_MAX] + "\n… (cut)"


def _one_line(text: str) -> str:
    # A newline inside a value would end the trailer and smuggle in a forged one.
    return _WHITESPACE.sub(" ", text).strip()


def merge_message(title: str, trailers: dict[str, str]) -> str:
    """The message of a task's merge commit: a subject line, a blank line, git trailers.

    The subject is "Merge task <Ainarres-Task>: <title>". Values are folded onto one
    line so that a task title or name cannot forge another trailer.
    """
    lines: list[str] = []
    for key, value in trailers.items():
        if not _TRAILER_KEY.match(key):
            raise BadInput(f"trailer key {key!r} must be letters, digits and dashes")
        clean = _one_line(value)
        if not clean:
            raise BadInput(f"trailer {key} has an empty value; give it a value or leave it out")
        lines.append(f"{key}: {clean}")
    task = _one_line(trailers.get(TASK_TRAILER, ""))
    subject = f"Merge task {task}: " if task else "Merge: "
    subject += _one_line(title) or "(untitled)"
    if not lines:
        return subject + "\n"
    return subject + "\n\n" + "\n".join(lines) + "\n"


def _first_parent(commit: pygit2.Commit) -> pygit2.Oid | None:
    return commit.parent_ids[0] if commit.parent_ids else None


def trailers_on_first_parent(
    repo_path: Path, tip: str, key: str, limit: int = 1000
) -> dict[str, str]:
    """Map each value of trailer ``key`` to the commit carrying it, along tip's first parents.

    At most ``limit`` commits are read, newest first; when a value appears twice the
    newest commit wins. With ``key=TASK_TRAILER`` this tells a restarted integrator
    which tasks main already holds.
    """
    repo = _open(repo_path)
    found: dict[str, str] = {}
    commit: pygit2.Commit | None = _commit(repo, tip)
    for _ in range(limit):
        if commit is None:
            break
        value = commit.message_trailers.get(key)
        if value is not None and value not in found:
            found[value] = str(commit.id)
        parent = _first_parent(commit)
        commit = None if parent is None else repo[parent].peel(pygit2.Commit)
    return found
