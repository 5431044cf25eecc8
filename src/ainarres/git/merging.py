"""Bringing main into a task's worktree before work starts ("catching up").

The trusted side merges, in the worktree, with git's own merge (so the repository's
`.gitattributes` merge drivers such as `merge=union` apply, as they would for a person).
A conflict leaves ordinary conflict markers; the work is then to resolve them by editing
files only (a tool's git data is read-only), and the trusted side commits the merge.
`ainarres integrate` and the gate merge in a bare repository with `git merge-tree`, which
on git < 2.42 reads no `.gitattributes` from the trees: a conflict that a merge driver
would resolve comes back to the implementer, whose catch-up resolves it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from ainarres.errors import AinarresError
from ainarres.git import trusted
from ainarres.git.trusted import Layout
from ainarres.git.worktree import MAIN_BRANCH, Worktree

_MARKERS = (b"<<<<<<< ", b">>>>>>> ", b"=======\n", b"=======\r\n")
_MAIN = f"refs/remotes/origin/{MAIN_BRANCH}"


@dataclass(frozen=True)
class CatchUp:
    """Main (at `main`) was merged into the task branch: cleanly, or with conflicts."""

    main: str
    conflicts: tuple[str, ...]
    resumed: bool = False  # a merge left unfinished by an earlier attempt

    @property
    def base(self) -> str:
        """Where the branch leaves main now."""
        return self.main

    @property
    def summary(self) -> str:
        if not self.conflicts:
            return f"merged main ({self.main[:12]}) into the task branch"
        return (
            f"merged main ({self.main[:12]}) into the task branch with conflicts in "
            f"{', '.join(self.conflicts)}: resolve the markers by editing those files"
        )


def _unmerged(layout: Layout) -> tuple[str, ...]:
    done = trusted.run(layout, "diff", "--name-only", "--diff-filter=U", "-z")
    return tuple(sorted(p for p in done.stdout.split("\0") if p))


def catch_up(wt: Worktree, ident: Mapping[str, str]) -> CatchUp | None:
    """Merge the clone's view of main into the worktree when main is not already in the
    branch; None when nothing was to be done. The worktree must be clean."""
    assert wt.layout is not None
    layout = wt.layout
    if (layout.git_dir / "MERGE_HEAD").exists():
        main = (layout.git_dir / "MERGE_HEAD").read_text().strip()
        return CatchUp(main, _unmerged(layout), resumed=True)
    main = trusted.run(layout, "rev-parse", "--verify", _MAIN).stdout.strip()
    contained = trusted.run(layout, "merge-base", "--is-ancestor", main, "HEAD", check=False)
    if contained.returncode == 0:
        return None
    merged = trusted.run(layout, "merge", "--no-ff", "--no-edit", "-m",
                         f"Merge main into {wt.branch}", main, env=ident, check=False)  # fmt: skip
    if merged.returncode == 0:
        return CatchUp(main, ())
    conflicts = _unmerged(layout)
    if not conflicts:
        trusted.run(layout, "merge", "--abort", check=False)
        raise AinarresError(f"cannot merge main into {wt.branch}: {merged.stderr.strip()}")
    return CatchUp(main, conflicts)


def leftover_markers(layout: Layout) -> list[str]:
    """The files of an unfinished merge that still hold conflict markers."""
    if not (layout.git_dir / "MERGE_HEAD").exists():
        return []
    left = []
    for path in _unmerged(layout):
        try:
            fd = os.open(layout.worktree / path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # deleted (a resolution) or not a plain file
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            continue
        with os.fdopen(fd, "rb") as fh:
            if any(line.startswith(_MARKERS) for line in fh):
                left.append(path)
    return left
