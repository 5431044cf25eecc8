"""Local copies of the hub, all of one shape, and cheap questions about refs.

A copy is a bare repository and a cache (`git/cache.py`). The hub's branches land under
`refs/remotes/origin/`, as in any clone, so that an agent's own task branches can live
under `refs/heads/` with its task worktrees hanging off the same copy (`git/worktree.py`),
and no fetch ever touches them. The hub's main is also kept as `refs/heads/main`, the name
every reader (review, planning, integrate) asks for.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Literal

from ainarres.errors import AinarresError, BadInput
from ainarres.git import cache
from ainarres.git._env import clean_env
from ainarres.git._run import git, one_line, unreachable
from ainarres.git.layout import MAIN_REF

ORIGIN_MAIN = "refs/remotes/origin/main"
# --prune drops what the hub deleted, and only under these destinations: never a task
# branch of the agent's own.
FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", f"+{MAIN_REF}:{MAIN_REF}")
Refreshed = Literal["cloned", "fetched", "rebuilt"]


def _local(url: str) -> bool:
    # git's rule: "host:path" is scp-like ssh unless a slash comes before the colon.
    head = url.split(":", 1)[0]
    return "://" not in url and (":" not in url or "/" in head)


def same_hub(configured: str, hub_url: str) -> bool:
    """True when a clone's recorded origin URL names ``hub_url``.

    git records a local path as an absolute one ("hub.git" becomes "/cwd/hub.git"),
    so local paths are compared after resolving them.
    """
    if _local(configured) and _local(hub_url):
        return os.path.realpath(configured) == os.path.realpath(hub_url)
    return configured.rstrip("/") == hub_url.rstrip("/")


def _is_bare_repo(path: Path) -> bool:
    done = git("rev-parse", "--is-bare-repository", cwd=path, env=clean_env(), check=False)
    return done.returncode == 0 and done.stdout.strip() == "true"


def _quiet(_: str) -> None:
    return None


def ensure_bare_mirror(hub_url: str, dest: Path, log: cache.Log = _quiet) -> Path:
    """Make ``dest`` an up-to-date copy of the hub at ``hub_url`` (see :func:`refresh`),
    holding its lock meanwhile; return ``dest``."""
    with cache.exclusive(dest):
        refresh(hub_url, dest, log)
    return dest


def refresh(hub_url: str, dest: Path, log: cache.Log = _quiet) -> Refreshed:
    """Make ``dest`` an up-to-date copy of the hub at ``hub_url``: cloned on first use,
    repaired and fetched afterwards, rebuilt when git cannot use it or an older version
    of ainarres gave it another shape ("rebuilt": the records of its worktrees are gone
    with it). Each repair or rebuild is said through ``log``. A ``dest`` that copies
    another hub, or a folder that is not a bare repository, is refused, not overwritten.
    Hold ``cache.exclusive(dest)``.
    """
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        if dest.exists():
            dest.rmdir()
        cache.clone_into(hub_url, dest, _shape, log)
        return "cloned"
    if not dest.is_dir() or not (dest / "HEAD").exists() or not (dest / "objects").is_dir():
        raise BadInput(f"{dest} exists and is not a bare git repository; remove it or pick another")
    origin = git("config", "--get", "remote.origin.url", cwd=dest, env=clean_env(), check=False)
    if origin.returncode == 0 and not same_hub(origin.stdout.strip(), hub_url):
        raise BadInput(
            f"{dest} is a copy of {origin.stdout.strip() or 'nothing'}, not of {hub_url}; "
            "remove it or pick another folder for this hub's copy"
        )
    cache.repair(dest, log)
    cache.sweep_half_made(dest, log)
    why = _unusable(dest, origin)
    if why is None:
        return "fetched"
    cache.discard(dest, why, log)
    cache.clone_into(hub_url, dest, _shape, log)
    return "rebuilt"


def _unusable(dest: Path, origin: subprocess.CompletedProcess[str]) -> str | None:
    """Why git cannot use the copy ``dest`` (fetching it on the way), or None."""
    if origin.returncode != 0 or not _is_bare_repo(dest):
        return origin.stderr.strip() or "git cannot read it as a bare repository"
    specs = git("config", "--get-all", "remote.origin.fetch", cwd=dest, env=clean_env(),
                check=False)  # fmt: skip
    if tuple(specs.stdout.split()) != FETCH_REFSPECS:
        return "an older version of ainarres made it with another shape"
    fetched = _fetch(dest)
    if fetched.returncode != 0:
        unreachable(fetched.stderr)  # a copy is not discarded because the network is down
        return fetched.stderr.strip() or "git fetch failed"
    usable = git("rev-list", "-n1", MAIN_REF, ORIGIN_MAIN, "--", cwd=dest, env=clean_env(),
                 check=False)  # fmt: skip
    return None if usable.returncode == 0 else usable.stderr.strip() or "main is unreadable"


def _shape(repo: Path) -> None:
    """Give a fresh bare clone the shape of a copy (before it is renamed into place)."""
    git("config", "--replace-all", "remote.origin.fetch", FETCH_REFSPECS[0], cwd=repo,
        env=clean_env())  # fmt: skip
    git("config", "--add", "remote.origin.fetch", FETCH_REFSPECS[1], cwd=repo, env=clean_env())
    # `clone --bare` made every hub branch a local one; only main stays (the agent's task
    # branches are made from refs/remotes/origin/ when it takes a task).
    heads = git("for-each-ref", "--format=%(refname)", "refs/heads/", cwd=repo, env=clean_env())
    drop = "".join(f"delete {ref}\n" for ref in heads.stdout.split() if ref != MAIN_REF)
    if drop:
        git("update-ref", "--stdin", cwd=repo, env=clean_env(), input_bytes=drop.encode())
    fetch(repo)


def _fetch(dest: Path) -> subprocess.CompletedProcess[str]:
    return git("fetch", "--quiet", "--prune", "--no-tags", "origin", *FETCH_REFSPECS, cwd=dest,
               env=clean_env(), check=False)  # fmt: skip


def fetch(dest: Path) -> None:
    """Bring the copy ``dest`` up to date with its hub (branches the hub deleted go)."""
    done = _fetch(dest)
    if done.returncode != 0:
        unreachable(done.stderr)
        raise AinarresError(f"cannot fetch the hub into {dest}: {done.stderr.strip()}")


def rev_parse(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or None when there is no such ref or commit."""
    spec = f"{ref}^{{commit}}"
    done = git(
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        spec,
        cwd=repo,
        env=clean_env(),
        check=False,
    )
    if done.returncode == 0:
        return done.stdout.strip()
    if done.returncode == 1 and not done.stderr.strip():
        return None
    raise AinarresError(f"cannot read {ref} in {repo}: {done.stderr.strip()}")


def hub_ref(hub_url: str, ref: str) -> str | None:
    """The commit the hub's ``ref`` (a full name, like refs/heads/main) points to, or None.

    Uses ``git ls-remote``: one round trip and no objects, so it is cheap to poll.
    """
    if not ref.startswith("refs/"):
        raise BadInput(f"give a full ref name like refs/heads/{ref}, not {ref!r}")
    done = git("ls-remote", "--refs", hub_url, ref, env=clean_env(), check=False)
    if done.returncode != 0:
        unreachable(done.stderr)
        raise AinarresError(f"cannot read {ref} from the hub {hub_url}: {one_line(done.stderr)}")
    # ls-remote matches patterns by their tail (refs/heads/x/main matches "main"), so
    # only an exact name counts.
    for line in done.stdout.splitlines():
        oid, _, name = line.partition("\t")
        if name == ref:
            return oid
    return None


def read_blob(repo: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``, or None when the commit has no such file."""
    done = git("show", f"{commit}:{path}", cwd=repo, env=clean_env(), check=False)
    return done.stdout if done.returncode == 0 else None


def first_parent_log(repo: Path, ref: str, count: int = 10) -> list[str]:
    """`<short oid> <subject>` of the newest first-parent commits of `ref`."""
    done = git("log", "--first-parent", f"-{count}", "--format=%h %s", ref, cwd=repo,
               env=clean_env())  # fmt: skip
    return done.stdout.splitlines()


def tree_differs_from_main(repo: Path, head: str, main: str = ORIGIN_MAIN) -> bool:
    """Whether `head` changes anything since it left `main` (merge base .. head)."""
    base = git("merge-base", main, head, cwd=repo, env=clean_env(), check=False)
    if base.returncode != 0:
        raise AinarresError(f"cannot find where {head[:12]} left main in {repo}: "
                            f"{base.stderr.strip() or 'no common history'}")  # fmt: skip
    done = git("diff", "--quiet", base.stdout.strip(), head, cwd=repo, env=clean_env(),
               check=False)  # fmt: skip
    if done.returncode not in (0, 1):
        raise AinarresError(f"cannot compare {head[:12]} with main: {done.stderr.strip()}")
    return done.returncode == 1
