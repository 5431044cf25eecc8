"""What the gate asks git about a push to main: is it a fast-forward, and which commits
does it add on the first-parent chain. The git CLI only, no pygit2: the hook runs on every
push and must stay cheap to start.

Both take the hook's own environment, which carries GIT_QUARANTINE_PATH and the
alternates that make the pushed (still quarantined) objects visible.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TASK_TRAILER = "Ainarres-Task"
_FORMAT = f"%H %P%x1f%(trailers:key={TASK_TRAILER},valueonly,separator=%x2c)%x1e"


@dataclass(frozen=True)
class FirstParent:
    """A commit of the new first-parent chain, with its task trailer (None unless exactly
    one)."""

    oid: str
    parents: tuple[str, ...]
    task_id: str | None


def _git(args: list[str], repo: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


def is_ancestor(repo: Path, old: str, new: str, env: Mapping[str, str]) -> bool:
    """Whether `new` descends from `old`; raises when git cannot tell (an unknown object)."""
    done = _git(["merge-base", "--is-ancestor", old, new], repo, env)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"git merge-base failed: {done.stderr.decode(errors='replace').strip()}")
    return done.returncode == 0


def first_parents_since(
    repo: Path, old: str, new: str, env: Mapping[str, str]
) -> list[FirstParent]:
    """The first-parent commits of `new` not reachable from `old`, oldest first: a walk of
    old..new only, so its cost follows the size of the push, not of the history."""
    done = _git(["log", "--first-parent", f"--format={_FORMAT}", f"{old}..{new}"], repo, env)
    if done.returncode != 0:
        raise RuntimeError(f"git log failed: {done.stderr.decode(errors='replace').strip()}")
    commits = []
    for record in done.stdout.decode().split("\x1e"):
        record = record.strip()
        if not record:
            continue
        head, _, trailer = record.partition("\x1f")
        oid, *parents = head.split()
        values = [v.strip() for v in trailer.split(",") if v.strip()]
        commits.append(FirstParent(oid, tuple(parents), values[0] if len(values) == 1 else None))
    return list(reversed(commits))
