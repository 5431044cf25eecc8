"""Local copies of the hub are caches: locked while used, repaired when a killed process
left them half-made, rebuilt from the hub when git cannot use them.

The hub (and the board) are the truth. A clone or mirror that ainarres keeps is only a
faster way to reach it, so when one is damaged (a stale `index.lock`, a worktree record
with no HEAD from a killed `worktree add`, a half-made clone) the next run repairs or
rebuilds it and says what it did, instead of failing for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ainarres.errors import AinarresError
from ainarres.git._env import clean_env
from ainarres.git._run import git, one_line, unreachable

Log = Callable[[str], None]
LOCK_WAIT = 600.0


class Busy(AinarresError):
    """Another process holds the cache (or the agent name) right now."""


@contextmanager
def exclusive(target: Path, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold `<target>.lock` (an flock, gone with its process) while using `target`.

    Two processes never work in one cache at once; whoever holds the lock may take any
    git lock file it finds inside as stale, since no one else can be writing there.
    """
    lock = target.with_name(target.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise Busy(
                        f"{target} is in use by another ainarres process (pid {holder}); "
                        "wait for it to finish"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").is_dir() else repo


def repair(repo: Path, log: Log) -> None:
    """Undo what a killed git left in `repo` (bare or not): lock files, and worktree
    records that are half-made or whose folder is gone. Call it holding `exclusive`."""
    gd = _git_dir(repo)
    for lock in [*gd.glob("*.lock"), *gd.glob("refs/**/*.lock"), *gd.glob("worktrees/*/*.lock")]:
        lock.unlink(missing_ok=True)
        log(f"repaired {repo}: removed a stale {lock.relative_to(gd)}")
    for admin in sorted(gd.glob("worktrees/*")):
        if not admin.is_dir():
            continue
        why = _bad_record(admin)
        if why is None:
            continue
        target = _record_target(admin)
        shutil.rmtree(admin, ignore_errors=True)
        if target is not None and target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        log(f"repaired {repo}: dropped worktree record {admin.name} ({why})")
    git("worktree", "prune", cwd=repo, env=clean_env(), check=False)


def _record_target(admin: Path) -> Path | None:
    try:
        return Path((admin / "gitdir").read_text().strip()).parent
    except OSError:
        return None


def _bad_record(admin: Path) -> str | None:
    locked = admin / "locked"
    if locked.exists() and "initializing" in locked.read_text(errors="replace"):
        return "left half-made by a killed `git worktree add`"
    try:
        head = (admin / "HEAD").read_text().strip()
    except OSError:
        return "no HEAD"
    if not head or head.startswith("0000000000"):
        return "a null HEAD"
    target = _record_target(admin)
    if target is None or not (target / ".git").exists():
        return "its folder is gone"
    return None


def sweep_half_made(dest: Path, log: Log) -> None:
    """Remove the half-made clones a killed `clone_into` left beside `dest` (hold
    `exclusive(dest)`: no one else can be cloning there)."""
    for pattern in (f".{dest.name}.tmp-*", f".{dest.name}.broken-*"):
        for stale in dest.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
            log(f"removed a half-made copy {stale}")


def clone_into(url: str, dest: Path, shape: Callable[[Path], None], log: Log) -> None:
    """Clone `url` bare to `dest` so that a kill leaves no half-made `dest`: into a
    temporary sibling first, given its `shape` there, renamed into place when complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_half_made(dest, log)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        cloned = git("clone", "--quiet", "--bare", url, str(tmp), env=clean_env(), check=False)
        if cloned.returncode != 0:
            unreachable(cloned.stderr)
            raise AinarresError(f"cannot clone the hub {url}: {one_line(cloned.stderr)}")
        shape(tmp)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def discard(dest: Path, why: str, log: Log) -> None:
    """Throw a damaged cache away (the hub is the truth), saying why."""
    aside = dest.with_name(f".{dest.name}.broken-{os.getpid()}")
    with contextlib.suppress(OSError):
        os.replace(dest, aside)
    shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    log(f"rebuilt {dest} from the hub: {why}")
