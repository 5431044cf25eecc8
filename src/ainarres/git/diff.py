"""A task's diff as data: files, hunks and lines with numbers on both sides (pygit2).

The diff is merge-base(main, head)..head: what the task changes, even after main moved on
or the implementer merged main into the branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pygit2

from ainarres.errors import AinarresError

LineKind = Literal["add", "del", "ctx"]
_KIND: dict[str, LineKind] = {"+": "add", "-": "del", " ": "ctx"}
_STATUS = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "C": "copied",
           "T": "type-changed"}  # fmt: skip


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    old: int | None
    new: int | None
    text: str


@dataclass(frozen=True)
class DiffHunk:
    header: str
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class DiffFile:
    path: str
    old_path: str
    status: str
    binary: bool
    hunks: tuple[DiffHunk, ...]


@dataclass(frozen=True)
class TaskDiff:
    base: str
    head: str
    files: tuple[DiffFile, ...]

    def file(self, path: str) -> DiffFile | None:
        return next((f for f in self.files if path in (f.path, f.old_path)), None)


def task_diff(repo_path: Path, main: str, head: str, context: int = 3) -> TaskDiff:
    """The diff of `head` against its merge base with `main`."""
    try:
        repo = pygit2.Repository(str(repo_path))
        main_oid = repo.revparse_single(main).peel(pygit2.Commit).id
        head_oid = repo.revparse_single(head).peel(pygit2.Commit).id
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise AinarresError(f"cannot read {head[:12]} or {main} in {repo_path}: {exc}") from None
    base = repo.merge_base(main_oid, head_oid)
    if base is None:
        raise AinarresError(f"{head[:12]} shares no history with main")
    diff = repo.diff(base, head_oid, context_lines=context)
    diff.find_similar()
    files = []
    for patch in diff:
        if patch is None:  # an unchanged entry: nothing to show
            continue
        delta = patch.delta
        hunks = tuple(
            DiffHunk(
                header=hunk.header.strip(),
                old_start=hunk.old_start,
                old_lines=hunk.old_lines,
                new_start=hunk.new_start,
                new_lines=hunk.new_lines,
                lines=tuple(
                    DiffLine(_KIND[line.origin],
                             line.old_lineno if line.old_lineno > 0 else None,
                             line.new_lineno if line.new_lineno > 0 else None,
                             line.content.rstrip("\n"))
                    for line in hunk.lines if line.origin in _KIND
                ),
            )
            for hunk in patch.hunks
        )  # fmt: skip
        files.append(DiffFile(
            path=delta.new_file.path, old_path=delta.old_file.path,
            status=_STATUS.get(delta.status_char(), delta.status_char()),
            binary=bool(delta.is_binary), hunks=hunks,
        ))  # fmt: skip
    return TaskDiff(base=str(base), head=str(head_oid), files=tuple(files))
