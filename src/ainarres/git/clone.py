"""The integrator's bare mirror of the hub, and cheap questions about refs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ainarres.errors import AinarresError, BadInput
from ainarres.git import cache
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.layout import MAIN_REF

# Branches land under their own names (refs/heads/task/42, not refs/remotes/origin/...)
# so the mirror answers the same ref names as the hub; prune drops deleted branches.
HEADS_REFSPEC = "+refs/heads/*:refs/heads/*"


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
    """Make ``dest`` a bare copy of every branch of the hub at ``hub_url``; return ``dest``.

    The first call clones, later calls fetch. The mirror is a cache: a kill cannot leave
    it half-made, stale locks are removed, and one git cannot use is rebuilt from the hub
    (saying so through ``log``). A ``dest`` that mirrors another hub, or a folder that is
    not a git repository at all, is refused rather than overwritten.
    """
    with cache.exclusive(dest):
        if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
            if dest.exists():
                dest.rmdir()
            _clone_mirror(hub_url, dest, log)
            return dest
        if not dest.is_dir() or not (dest / "HEAD").exists() or not (dest / "objects").is_dir():
            raise BadInput(
                f"{dest} exists and is not a bare git repository; remove it or pick another"
            )
        done = git("config", "--get", "remote.origin.url", cwd=dest, env=clean_env(), check=False)
        if done.returncode == 0 and not same_hub(done.stdout.strip(), hub_url):
            raise BadInput(
                f"{dest} mirrors {done.stdout.strip() or 'nothing'}, not {hub_url}; "
                "remove it or pick another folder for this hub's mirror"
            )
        cache.repair(dest, log)
        cache.sweep_half_made(dest, log)
        fetched = _fetch(dest)
        usable = git("rev-list", "-n1", MAIN_REF, "--", cwd=dest, env=clean_env(),
                     check=False)  # fmt: skip
        if done.returncode or not _is_bare_repo(dest) or fetched.returncode or usable.returncode:
            why = (fetched.stderr or done.stderr or usable.stderr).strip() or "unusable"
            cache.discard(dest, why, log)
            _clone_mirror(hub_url, dest, log)
    return dest


def _clone_mirror(hub_url: str, dest: Path, log: cache.Log) -> None:
    cache.clone_into(hub_url, dest, bare=True, log=log)
    # clone --bare records no fetch refspec; without one, `git fetch` would update nothing.
    git("config", "remote.origin.fetch", HEADS_REFSPEC, cwd=dest, env=clean_env())


def _fetch(dest: Path) -> subprocess.CompletedProcess[str]:
    # The refspec is given explicitly so that a mirror made by an older version, or with
    # a hand-edited config, still gets every branch under its own name.
    return git("fetch", "--quiet", "--prune", "--no-tags", "origin", HEADS_REFSPEC, cwd=dest,
               env=clean_env(), check=False)  # fmt: skip


def fetch(dest: Path) -> None:
    """Bring every branch of the mirror ``dest`` up to date with its hub (deleted ones go)."""
    done = _fetch(dest)
    if done.returncode != 0:
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
    done = git("ls-remote", "--refs", hub_url, ref, env=clean_env())
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


def fetch_origin(repo: Path) -> None:
    """Update a working clone's view of its hub (origin/*), dropping deleted branches."""
    git("fetch", "--quiet", "--prune", "origin", cwd=repo, env=clean_env())


def first_parent_log(repo: Path, ref: str, count: int = 10) -> list[str]:
    """`<short oid> <subject>` of the newest first-parent commits of `ref`."""
    done = git("log", "--first-parent", f"-{count}", "--format=%h %s", ref, cwd=repo,
               env=clean_env())  # fmt: skip
    return done.stdout.splitlines()


def tree_differs_from_main(repo: Path, head: str, main: str = "refs/remotes/origin/main") -> bool:
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
