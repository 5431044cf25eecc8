"""Merge commits made in memory, and the trailers that tie main's history to the board.

The integrator never checks out main: it merges two commits inside the object store
(bare mirror or hub alike), writes the merge commit without moving any ref, and
pushes it. The trailers on each merge commit ("Ainarres-Task: 42") are how a
restarted integrator, or the gate, tells which tasks main already holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from ainarres.errors import AinarresError, BadInput

TASK_TRAILER = "Ainarres-Task"
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


def merge_in_memory(
    repo_path: Path, ours: str, theirs: str, message: str, author: tuple[str, str]
) -> MergeResult:
    """Merge ``theirs`` (a reviewed task head) into ``ours`` (main's tip) without a checkout.

    On success the merge commit, with parents [ours, theirs] and ``author`` as author and
    committer at the current time, is written to the object store of ``repo_path`` (bare
    or not) and no ref moves: pushing it is the caller's job. A task branch that main
    already contains gives ``already_merged=True`` and no commit.
    """
    repo = _open(repo_path)
    ours_commit = _commit(repo, ours)
    theirs_commit = _commit(repo, theirs)
    if ours_commit.id == theirs_commit.id or repo.descendant_of(ours_commit.id, theirs_commit.id):
        return MergeResult(commit=None, already_merged=True)
    index = repo.merge_commits(ours_commit, theirs_commit)
    if index.conflicts is not None:
        paths = {
            entry.path
            for sides in index.conflicts
            for entry in sides
            if entry is not None  # a side is None when that side deleted or never had the file
        }
        return MergeResult(commit=None, conflicts=sorted(paths))
    tree = index.write_tree(repo)
    name, email = author
    signature = pygit2.Signature(name, email)
    oid = repo.create_commit(
        None, signature, signature, message, tree, [ours_commit.id, theirs_commit.id]
    )
    return MergeResult(commit=str(oid))


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
    newest commit wins. With ``key="Ainarres-Task"`` this tells a restarted integrator
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
