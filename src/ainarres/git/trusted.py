"""git run by the trusted side in a folder an untrusted tool has written.

A task worktree is handed to a tool (a shell driven by a model) and then committed by the
runner, outside the sandbox. Git decides which repository it works in from the folder's
`.git` entry, and a repository's config can make git run programs (hooks, fsmonitor,
filters, signing programs). So the runner never lets git discover anything there:

- the worktree's layout (its `.git` pointer file and the admin folder it names) is
  recorded before the tool runs, and checked again before every git command; a changed
  pointer, or a git repository the tool made inside the worktree, refuses the job;
- git is told `--git-dir` and `--work-tree` explicitly, runs with the hardening of
  `_run.SAFE_CONFIG` (no hooks, no fsmonitor, pinned signing program), and without the
  system and global config, so the only config is the clone's own, which the tool sees
  read-only.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import AinarresError
from ainarres.git._env import clean_env
from ainarres.git._run import git

# Neither the system's nor the person's config applies to a tool's worktree: a filter or
# merge driver defined there would run on files the tool chose.
ISOLATED_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_NO_REPLACE_OBJECTS": "1",
}


class LayoutChanged(AinarresError):
    """The worktree's git data is not what ainarres made; nothing was run in it."""


@dataclass(frozen=True)
class Layout:
    """Where a worktree's git data lives, as the trusted side made it."""

    worktree: Path
    git_dir: Path  # the worktree's admin folder, <common>/worktrees/<name>
    common_dir: Path  # the clone's .git

    @property
    def pointer(self) -> Path:
        return self.worktree / ".git"

    @property
    def pointer_text(self) -> str:
        return f"gitdir: {self.git_dir}\n"


def _read_pointer(path: Path) -> str | None:
    """The text of a `.git` file, or None unless it is a small regular file (not a
    folder, not a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(4097)
    return data.decode("utf-8", "replace") if len(data) <= 4096 else None


def record(worktree: Path, common_dir: Path) -> Layout:
    """The layout of `worktree`, a linked worktree of the clone whose git folder is
    `common_dir`; refused unless its pointer and admin folder agree with each other."""
    worktree, common_dir = worktree.absolute(), common_dir.absolute()
    text = _read_pointer(worktree / ".git")
    if text is None or not text.startswith("gitdir: "):
        raise LayoutChanged(f"{worktree}/.git is not a worktree's pointer file")
    git_dir = Path(text.removeprefix("gitdir: ").strip())
    layout = Layout(worktree, git_dir, common_dir)
    if text != layout.pointer_text:
        raise LayoutChanged(f"{worktree}/.git is not a pointer file as git writes them")
    _check_admin(layout)
    return layout


def _check_admin(layout: Layout) -> None:
    admin = layout.git_dir
    if admin.parent != layout.common_dir / "worktrees" or admin.is_symlink():
        raise LayoutChanged(f"{layout.pointer} points at {admin}, outside {layout.common_dir}")
    back = _read_pointer(admin / "gitdir")
    if back is None or Path(back.strip()) != layout.pointer:
        raise LayoutChanged(f"{admin} does not belong to the worktree {layout.worktree}")


def nested_repositories(worktree: Path, limit: int = 3) -> list[Path]:
    """`.git` entries below the worktree's top (a repository a tool made inside it)."""
    found: list[Path] = []
    stack = [worktree]
    while stack and len(found) < limit:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name == ".git" and folder != worktree:
                found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and not (
                folder == worktree and entry.name == ".git"
            ):
                stack.append(Path(entry.path))
    return found


def verify(layout: Layout, *, deep: bool = False) -> None:
    """Refuse (LayoutChanged) unless the worktree's git layout is as recorded; `deep` also
    looks for repositories made inside it (before `git add`, which would take them in)."""
    if _read_pointer(layout.pointer) != layout.pointer_text:
        raise LayoutChanged(
            f"{layout.pointer} was replaced or changed since ainarres made it; the job is "
            "refused and nothing was run in that folder"
        )
    _check_admin(layout)
    nested = nested_repositories(layout.worktree) if deep else []
    if nested:
        raise LayoutChanged(
            f"a git repository was made inside the worktree ({nested[0]}); the job is "
            "refused: remove it, tools must leave the worktree's git data alone"
        )


def run(
    layout: Layout,
    *args: str,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`git <args>` in the recorded worktree, after checking its layout."""
    verify(layout)
    where = (f"--git-dir={layout.git_dir}", f"--work-tree={layout.worktree}")
    return git(*where, *args, cwd=layout.worktree, env=isolated_env(env),
               input_bytes=input_bytes, check=check)  # fmt: skip


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of git in a tool's worktree: ours, minus repository pins and the
    system and global config."""
    return clean_env(None, **ISOLATED_ENV, **dict(extra or {}))
