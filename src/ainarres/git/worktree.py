"""Worktrees: an agent's checkout of its task branch, and throwaway checkouts for checks.

An agent keeps one ordinary clone of the hub and one worktree per task branch, so
several tasks can be in progress without stashing, and a returned task picks up
where the hub's copy of its branch left off.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ainarres.errors import AinarresError, BadInput
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.clone import rev_parse, same_hub

MAIN_BRANCH = "main"


@dataclass(frozen=True)
class Worktree:
    """A task branch checked out for an agent.

    ``base_commit`` is where the branch left the hub's main (the merge base). ``reused``
    says the worktree existed already; ``from_hub`` that the branch came from the hub (a
    returned task) rather than from main. ``notes`` explain anything left untouched.
    """

    path: Path
    branch: str
    base_commit: str
    reused: bool
    from_hub: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kept:
    """A worktree or branch that :func:`prune_worktrees` left in place, and why."""

    branch: str | None
    path: Path | None
    reason: str


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_worktrees` removed (branch names) and what it kept."""

    removed: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    path: Path
    branch: str | None
    locked: bool


def _is_ancestor(repo: Path, older: str, newer: str, env: Mapping[str, str]) -> bool:
    done = git("merge-base", "--is-ancestor", older, newer, cwd=repo, env=env, check=False)
    if done.returncode > 1:
        raise AinarresError(f"cannot compare {older} and {newer} in {repo}: {done.stderr.strip()}")
    return done.returncode == 0


def _ahead(repo: Path, base: str, tip: str, env: Mapping[str, str]) -> int:
    return int(git("rev-list", "--count", f"{base}..{tip}", cwd=repo, env=env).stdout)


def _dirty(path: Path, env: Mapping[str, str]) -> bool:
    # Untracked files count (an agent's new file is work), ignored ones (caches) do not.
    return bool(git("status", "--porcelain", cwd=path, env=env).stdout.strip())


def _worktrees(repo: Path, env: Mapping[str, str]) -> list[_Entry]:
    """Every worktree of ``repo``, the main one first, as git lists them."""
    out: list[_Entry] = []
    for block in git("worktree", "list", "--porcelain", cwd=repo, env=env).stdout.split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines() if line)
        if "worktree" in fields:
            ref = fields.get("branch", "")
            branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
            out.append(_Entry(Path(fields["worktree"]), branch, "locked" in fields))
    return out


def worktree_path_is_inside(root: Path, path: Path) -> bool:
    """True when ``path`` (relative paths are taken from ``root``) lies strictly inside root.

    A ``..`` component is refused outright, and symlinks are followed, so neither can
    lead a worktree (which git will happily delete later) out of ``root``.
    """
    if ".." in path.parts:
        return False
    try:
        real_root = root.resolve()
        real = (path if path.is_absolute() else root / path).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return real != real_root and real.is_relative_to(real_root)


def _ensure_clone(hub_url: str, clone_dir: Path, env: Mapping[str, str]) -> None:
    if not clone_dir.exists() or (clone_dir.is_dir() and not any(clone_dir.iterdir())):
        clone_dir.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--quiet", hub_url, str(clone_dir), env=env)
        return
    done = None
    if clone_dir.is_dir():
        done = git("config", "--get", "remote.origin.url", cwd=clone_dir, env=env, check=False)
    if done is None or done.returncode != 0 or not same_hub(done.stdout.strip(), hub_url):
        raise BadInput(f"{clone_dir} is not a clone of {hub_url}; remove it or pick another folder")
    git("fetch", "--quiet", "--prune", "origin", cwd=clone_dir, env=env)
    # Entries whose folder was deleted by hand would otherwise block their branch.
    git("worktree", "prune", cwd=clone_dir, env=env)


def prepare_task_worktree(
    hub_url: str,
    clone_dir: Path,
    worktrees_root: Path,
    branch: str,
    *,
    git_env: Mapping[str, str] | None = None,
) -> Worktree:
    """Check out ``branch`` for an agent in a worktree of its clone of the hub.

    The clone at ``clone_dir`` is made on first use and fetched afterwards. When the hub
    has the branch (a returned task) the local branch follows it; otherwise the branch
    starts at the hub's main. The worktree lives at ``worktrees_root/<branch, / as _>``;
    an existing one is reused, and moved to the hub's tip only when that loses nothing.
    ``git_env`` adds variables (identity, ssh command) to the environment of git.
    """
    env = clean_env(None, **dict(git_env or {}))
    # git runs in the clone, so a relative path would otherwise be taken from there.
    clone_dir, worktrees_root = clone_dir.absolute(), worktrees_root.absolute()
    # A leading dash makes a valid ref name that git branch would read as an option.
    valid = git("check-ref-format", f"refs/heads/{branch}", env=env, check=False).returncode == 0
    if not valid or branch in (MAIN_BRANCH, "HEAD") or branch.startswith("-"):
        raise BadInput(f"{branch!r} cannot be a task branch; use a name like task/42")
    _ensure_clone(hub_url, clone_dir, env)
    main = rev_parse(clone_dir, f"refs/remotes/origin/{MAIN_BRANCH}")
    if main is None:
        raise AinarresError(f"the hub at {hub_url} has no {MAIN_BRANCH} branch; set up the hub")
    hub_tip = rev_parse(clone_dir, f"refs/remotes/origin/{branch}")
    target = hub_tip or main
    local = rev_parse(clone_dir, f"refs/heads/{branch}")
    notes: list[str] = []

    def keep_local(where: Path) -> bool:
        # Local commits the hub lacks are unpushed work: never reset them away.
        if local is None or local == target or _is_ancestor(where, local, target, env):
            return False
        ahead = _ahead(where, target, local, env)
        notes.append(f"{branch} has {ahead} commit(s) not on the hub; kept, push them")
        return True

    existing = next((e.path for e in _worktrees(clone_dir, env) if e.branch == branch), None)
    if existing is not None:
        path, reused = existing, True
        if _dirty(path, env):
            notes.append(f"{path} has uncommitted changes; left as they are, not reset")
        elif not keep_local(path) and local != target:
            git("reset", "--quiet", "--hard", target, cwd=path, env=env)
    else:
        path, reused = worktrees_root / branch.replace("/", "_"), False
        if not worktree_path_is_inside(worktrees_root, path):
            raise BadInput(f"{path} is outside {worktrees_root}; fix the worktrees folder")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise BadInput(f"{path} exists and is not a worktree of {branch}; move it away")
        if local is None:
            git("branch", "--quiet", "--no-track", branch, target, cwd=clone_dir, env=env)
            # A plain `git push` in the worktree then goes to the same branch on the hub.
            git("config", f"branch.{branch}.remote", "origin", cwd=clone_dir, env=env)
            git("config", f"branch.{branch}.merge", f"refs/heads/{branch}", cwd=clone_dir, env=env)
        elif not keep_local(clone_dir) and local != target:
            git("branch", "--quiet", "--force", branch, target, cwd=clone_dir, env=env)
        worktrees_root.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--quiet", str(path), branch, cwd=clone_dir, env=env)
    head = git("rev-parse", "HEAD", cwd=path, env=env).stdout.strip()
    base = git("merge-base", main, head, cwd=path, env=env).stdout.strip()
    return Worktree(path, branch, base, reused, hub_tip is not None, tuple(notes))


def prune_worktrees(clone_dir: Path, keep_branches: set[str], merged_into: str) -> PruneReport:
    """Remove the worktrees and local branches that ``merged_into`` already contains.

    Branches in ``keep_branches`` and the clone's own checkout are left alone. A
    worktree with uncommitted changes, or a branch with commits ``merged_into`` lacks,
    is kept and listed in the report with the reason. Fetch first to judge by the
    hub's latest main (e.g. ``merged_into="origin/main"``).
    """
    env = clean_env()
    git("worktree", "prune", cwd=clone_dir, env=env)
    merged = rev_parse(clone_dir, merged_into)
    if merged is None:
        raise BadInput(f"{merged_into!r} is not a commit in {clone_dir}; fetch, or name a ref")
    report = PruneReport()
    entries = _worktrees(clone_dir, env)
    # The first entry is the clone's own checkout; its branch cannot be deleted.
    skip = {MAIN_BRANCH, *keep_branches, *(e.branch for e in entries[:1] if e.branch)}

    def unmerged(name: str) -> str | None:
        ahead = _ahead(clone_dir, merged, f"refs/heads/{name}", env)
        return f"{ahead} commit(s) not in {merged_into}" if ahead else None

    for entry in entries[1:]:
        if entry.branch is None:
            report.kept.append(Kept(None, entry.path, "detached HEAD, not a task branch"))
        elif entry.branch not in skip:
            skip.add(entry.branch)
            why = ["locked"] if entry.locked else []
            why += ["uncommitted changes"] if _dirty(entry.path, env) else []
            ahead = unmerged(entry.branch)
            if ahead:
                why.append(ahead)
            if why:
                report.kept.append(Kept(entry.branch, entry.path, "; ".join(why)))
            else:
                git("worktree", "remove", str(entry.path), cwd=clone_dir, env=env)
                git("branch", "--quiet", "-D", entry.branch, cwd=clone_dir, env=env)
                report.removed.append(entry.branch)
    # Branches left without a worktree (its folder deleted by hand) are judged alike.
    heads = git(
        "for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/", cwd=clone_dir, env=env
    )
    for name in heads.stdout.split():
        reason = None if name in skip else unmerged(name)
        if reason:
            report.kept.append(Kept(name, None, reason))
        elif name not in skip:
            git("branch", "--quiet", "-D", name, cwd=clone_dir, env=env)
            report.removed.append(name)
    return report


def commit_all(worktree: Path, message: str, author: tuple[str, str]) -> str | None:
    """Commit every change in ``worktree`` (new files too) as ``author``; None if none."""
    name, email = author
    env = clean_env(
        None,
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    git("add", "--all", cwd=worktree, env=env)
    staged = git("diff", "--cached", "--quiet", cwd=worktree, env=env, check=False)
    if staged.returncode == 0:
        return None
    if staged.returncode != 1:
        raise AinarresError(f"cannot tell what changed in {worktree}: {staged.stderr.strip()}")
    # The message goes through stdin so that no text in it can be read as an option.
    commit = ("commit", "--quiet", "--no-gpg-sign", "--file=-")
    git(*commit, cwd=worktree, env=env, input_bytes=message.encode())
    return git("rev-parse", "HEAD", cwd=worktree, env=env).stdout.strip()


@contextmanager
def scratch_worktree(repo_path: Path, commit: str) -> Iterator[Path]:
    """Check ``commit`` out (detached) in a temporary worktree of ``repo_path``; yield its path.

    Works from a bare mirror too. The worktree and git's record of it are removed on
    exit, also when the body raises, so checks never leave checkouts behind.
    """
    env = clean_env()
    tmp = Path(tempfile.mkdtemp(prefix="ainarres-scratch-"))
    path = tmp / "tree"
    added = False
    try:
        git("worktree", "add", "--quiet", "--detach", str(path), commit, cwd=repo_path, env=env)
        added = True
        yield path
    finally:
        if added:
            # --force: the checks may have left build output or changed tracked files.
            git("worktree", "remove", "--force", str(path), cwd=repo_path, env=env, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git("worktree", "prune", cwd=repo_path, env=env, check=False)
