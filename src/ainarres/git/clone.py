"""The integrator's bare mirror of the hub, and cheap questions about refs."""

from __future__ import annotations

import os
from pathlib import Path

from ainarres.errors import AinarresError, BadInput
from ainarres.git._env import clean_env
from ainarres.git._run import git

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


def ensure_bare_mirror(hub_url: str, dest: Path) -> Path:
    """Make ``dest`` a bare copy of every branch of the hub at ``hub_url``; return ``dest``.

    The first call clones, later calls fetch. A ``dest`` that is a mirror of another hub,
    or a folder that is something else, is refused rather than overwritten.
    """
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        dest.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--quiet", "--bare", hub_url, str(dest), env=clean_env())
        # clone --bare records no fetch refspec; without one, `git fetch` would update nothing.
        git("config", "remote.origin.fetch", HEADS_REFSPEC, cwd=dest, env=clean_env())
        return dest
    if not dest.is_dir() or not _is_bare_repo(dest):
        raise BadInput(f"{dest} exists and is not a bare git repository; remove it or pick another")
    done = git("config", "--get", "remote.origin.url", cwd=dest, env=clean_env(), check=False)
    if not same_hub(done.stdout.strip(), hub_url):
        raise BadInput(
            f"{dest} mirrors {done.stdout.strip() or 'nothing'}, not {hub_url}; "
            "remove it or pick another folder for this hub's mirror"
        )
    fetch(dest)
    return dest


def fetch(dest: Path) -> None:
    """Bring every branch of the mirror ``dest`` up to date with its hub (deleted ones go)."""
    # The refspec is given explicitly so that a mirror made by an older version, or with
    # a hand-edited config, still gets every branch under its own name.
    git(
        "fetch",
        "--quiet",
        "--prune",
        "--no-tags",
        "origin",
        HEADS_REFSPEC,
        cwd=dest,
        env=clean_env(),
    )


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
