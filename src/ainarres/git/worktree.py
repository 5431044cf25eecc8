"""Worktrees: an agent's checkout of its task branch, and throwaway checkouts for checks.

An agent keeps one copy of the hub (`git/clone.py`: bare, its reviews and plans read the
same one) and one worktree of it per task branch, so several tasks can be in progress
without stashing, and a returned task picks up where the hub's copy of its branch left off.
The copy is a cache of the hub (`git/cache.py`): locked while used, repaired or rebuilt
when a killed process damaged it.

A worktree is handed to an untrusted tool, so every git command in it goes through
`git/trusted.py`: its layout is recorded when it is made and checked before each use.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ainarres.errors import AinarresError, BadInput
from ainarres.git import cache, trusted
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.clone import ORIGIN_MAIN, Refreshed, refresh, rev_parse
from ainarres.git.trusted import Layout, LayoutChanged
from ainarres.processes import alive

MAIN_BRANCH = "main"


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Worktree:
    """A task branch checked out for an agent.

    ``base_commit`` is where the branch left the hub's main (the merge base). ``reused``
    says the worktree existed already; ``from_hub`` that the branch came from the hub (a
    returned task) rather than from main. ``notes`` explain anything left untouched or
    repaired. ``layout`` is its git layout as made, for the trusted side's git commands.
    """

    path: Path
    branch: str
    base_commit: str
    reused: bool
    from_hub: bool
    notes: tuple[str, ...] = ()
    layout: Layout | None = field(default=None, compare=False)


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


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    done = git("merge-base", "--is-ancestor", older, newer, cwd=repo, env=clean_env(), check=False)
    if done.returncode > 1:
        raise AinarresError(f"cannot compare {older} and {newer} in {repo}: {done.stderr.strip()}")
    return done.returncode == 0


def _ahead(repo: Path, base: str, tip: str) -> int:
    return int(git("rev-list", "--count", f"{base}..{tip}", cwd=repo, env=clean_env()).stdout)


def _dirty(layout: Layout) -> bool:
    # Untracked files count (an agent's new file is work), ignored ones (caches) do not;
    # submodules are never looked into (their config is not ours).
    done = trusted.run(layout, "status", "--porcelain", "--ignore-submodules=all")
    return bool(done.stdout.strip())


def _worktrees(repo: Path) -> list[_Entry]:
    """Every worktree of ``repo``, the main one first, as git lists them."""
    out: list[_Entry] = []
    listing = git("worktree", "list", "--porcelain", cwd=repo, env=clean_env()).stdout
    for block in listing.split("\n\n"):
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


def prepare_task_worktree(
    hub_url: str,
    copy: Path,
    worktrees_root: Path,
    branch: str,
    *,
    log: cache.Log = _quiet,
) -> Worktree:
    """Check out ``branch`` for an agent in a worktree of its copy of the hub.

    The copy at ``copy`` is made on first use and fetched afterwards. When the hub
    has the branch (a returned task) the local branch follows it; otherwise the branch
    starts at the hub's main. The worktree lives at ``worktrees_root/<branch, / as _>``;
    an existing one is reused, and moved to the hub's tip only when that loses nothing.
    One whose git layout a tool changed is thrown away and made anew from the hub.
    """
    # git runs in the copy, so a relative path would otherwise be taken from there.
    copy, worktrees_root = copy.absolute(), worktrees_root.absolute()
    check_branch_name(branch)
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        log(line)

    with cache.exclusive(copy):
        _worktrees_of_another_copy(worktrees_root, refresh(hub_url, copy, note), note)
        main = rev_parse(copy, ORIGIN_MAIN)
        if main is None:
            raise AinarresError(f"the hub at {hub_url} has no {MAIN_BRANCH} branch; set up the hub")
        hub_tip = rev_parse(copy, f"refs/remotes/origin/{branch}")
        target = hub_tip or main
        local = rev_parse(copy, f"refs/heads/{branch}")

        def keep_local() -> bool:
            # Local commits the hub lacks are unpushed work: never reset them away.
            if local is None or local == target or _is_ancestor(copy, local, target):
                return False
            ahead = _ahead(copy, target, local)
            notes.append(f"{branch} has {ahead} commit(s) not on the hub; kept, push them")
            return True

        layout = _existing(copy, branch, note)
        if layout is not None:
            path, reused = layout.worktree, True
            if _dirty(layout):
                notes.append(f"{path} has uncommitted changes; left as they are, not reset")
            elif not keep_local() and local != target:
                trusted.run(layout, "reset", "--quiet", "--hard", target)
        else:
            path, reused = worktrees_root / branch.replace("/", "_"), False
            if not worktree_path_is_inside(worktrees_root, path):
                raise BadInput(f"{path} is outside {worktrees_root}; fix the worktrees folder")
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise BadInput(f"{path} exists and is not a worktree of {branch}; move it away")
            if path.exists() and any(path.iterdir()):
                # Left by a killed `worktree add` or a rebuilt copy: no git record points
                # at it, so it holds nothing git could still commit.
                shutil.rmtree(path)
                note(f"removed {path}: a leftover folder no worktree record points at")
            if local is None:
                git("branch", "--quiet", "--no-track", branch, target, cwd=copy,
                    env=clean_env())  # fmt: skip
                # A plain `git push` in the worktree then goes to the same branch on the hub.
                for key, value in (("remote", "origin"), ("merge", f"refs/heads/{branch}")):
                    git("config", f"branch.{branch}.{key}", value, cwd=copy, env=clean_env())
            elif not keep_local() and local != target:
                git("branch", "--quiet", "--force", branch, target, cwd=copy,
                    env=clean_env())  # fmt: skip
            worktrees_root.mkdir(parents=True, exist_ok=True)
            git("worktree", "add", "--quiet", str(path), branch, cwd=copy, env=clean_env())
            layout = trusted.record(path, copy)
        head = trusted.run(layout, "rev-parse", "HEAD").stdout.strip()
        base = git("merge-base", main, head, cwd=copy, env=clean_env()).stdout.strip()
    return Worktree(path, branch, base, reused, hub_tip is not None, tuple(notes), layout)


def _worktrees_of_another_copy(root: Path, refreshed: Refreshed, note: cache.Log) -> None:
    """Clear ``root`` when the copy was just made: the worktrees there belonged to another.

    A rebuilt copy took its worktrees' records with it, so they are removed. A copy made
    for the first time while worktrees exist found those of an older version's clone
    (`clones/`), or of a copy removed by hand: they may hold work, so they are moved aside.
    """
    if refreshed == "fetched" or not root.exists():
        return
    if refreshed == "rebuilt":
        shutil.rmtree(root)
        note(f"removed {root}: its worktrees belonged to the rebuilt copy")
        return
    # `_` is in no agent's name, so the new name is no other agent's folder.
    aside = root.with_name(f"{root.name}_moved-{os.getpid()}")
    os.replace(root, aside)
    note(f"moved {root} to {aside}: its worktrees belong to an older copy of the hub; "
         "take what you need from them, then remove it")  # fmt: skip


def check_branch_name(branch: str) -> None:
    """Refuse a branch name that git refuses, or that could be read as an option."""
    valid = git("check-ref-format", f"refs/heads/{branch}", env=clean_env(), check=False)
    if valid.returncode != 0 or branch in (MAIN_BRANCH, "HEAD") or branch.startswith("-"):
        raise BadInput(f"{branch!r} cannot be a task branch; use a name like task/42")


def _existing(copy: Path, branch: str, note: cache.Log) -> Layout | None:
    """The layout of the branch's worktree, if there is one that ainarres can still trust;
    one a tool tampered with is removed (without running git in it) and forgotten."""
    entry = next((e for e in _worktrees(copy) if e.branch == branch), None)
    if entry is None:
        return None
    try:
        layout = trusted.record(entry.path, copy)
        trusted.verify(layout, deep=True)  # a repository made inside it is the tool's
        return layout
    except LayoutChanged as exc:
        note(f"threw away the worktree of {branch}: {exc.message}")
    admin = _admin_of(copy, entry.path)
    shutil.rmtree(entry.path, ignore_errors=True)
    if admin is not None:
        shutil.rmtree(admin, ignore_errors=True)
    git("worktree", "prune", cwd=copy, env=clean_env())
    return None


def _admin_of(copy: Path, worktree: Path) -> Path | None:
    for admin in (copy / "worktrees").glob("*"):
        try:
            if Path((admin / "gitdir").read_text().strip()).parent == worktree:
                return admin
        except OSError:
            continue
    return None


def worktree_layout(copy: Path, branch: str) -> Layout | None:
    """The recorded-and-checked layout of the branch's worktree in this copy, or None."""
    entry = next((e for e in _worktrees(copy) if e.branch == branch), None)
    return None if entry is None else trusted.record(entry.path, copy)


def prune_worktrees(copy: Path, keep_branches: set[str], merged_into: str) -> PruneReport:
    """Remove the worktrees and local branches that ``merged_into`` already contains.

    Branches in ``keep_branches`` and main (the hub's, which every fetch sets) are left
    alone. A
    worktree with uncommitted changes, or a branch with commits ``merged_into`` lacks,
    is kept and listed in the report with the reason; so is one whose git layout was
    changed (nothing is run in it). Fetch first to judge by the hub's latest main
    (e.g. ``merged_into="origin/main"``).
    """
    with cache.exclusive(copy):
        return _prune(copy, keep_branches, merged_into)


def _prune(copy: Path, keep_branches: set[str], merged_into: str) -> PruneReport:
    cache.repair(copy, _quiet)
    merged = rev_parse(copy, merged_into)
    if merged is None:
        raise BadInput(f"{merged_into!r} is not a commit in {copy}; fetch, or name a ref")
    report = PruneReport()
    entries = _worktrees(copy)
    # The first entry is the (bare) copy itself, not a worktree.
    skip = {MAIN_BRANCH, *keep_branches}

    def unmerged(name: str) -> str | None:
        ahead = _ahead(copy, merged, f"refs/heads/{name}")
        return f"{ahead} commit(s) not in {merged_into}" if ahead else None

    for entry in entries[1:]:
        if entry.branch is None:
            report.kept.append(Kept(None, entry.path, "detached HEAD, not a task branch"))
            continue
        if entry.branch in skip:
            continue
        skip.add(entry.branch)
        try:
            layout = trusted.record(entry.path, copy)
            trusted.verify(layout, deep=True)
        except LayoutChanged as exc:
            report.kept.append(Kept(entry.branch, entry.path, f"{exc.message}; look at it"))
            continue
        why = ["locked"] if entry.locked else []
        why += ["uncommitted changes"] if _dirty(layout) else []
        ahead = unmerged(entry.branch)
        if ahead:
            why.append(ahead)
        if why:
            report.kept.append(Kept(entry.branch, entry.path, "; ".join(why)))
        else:
            git("worktree", "remove", str(entry.path), cwd=copy, env=clean_env())
            git("branch", "--quiet", "-D", entry.branch, cwd=copy, env=clean_env())
            report.removed.append(entry.branch)
    # Branches left without a worktree (its folder deleted by hand) are judged alike.
    heads = git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/", cwd=copy,
                env=clean_env())  # fmt: skip
    for name in heads.stdout.split():
        reason = None if name in skip else unmerged(name)
        if reason:
            report.kept.append(Kept(name, None, reason))
        elif name not in skip:
            git("branch", "--quiet", "-D", name, cwd=copy, env=clean_env())
            report.removed.append(name)
    return report


def commit_all(layout: Layout, message: str, author: tuple[str, str]) -> str | None:
    """Commit every change in the worktree (new files too) as ``author``; None if none.

    The layout is checked first: a worktree whose git data a tool replaced is refused
    (LayoutChanged) before any git runs in it.
    """
    trusted.verify(layout, deep=True)
    name, email = author
    ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
             "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
    trusted.run(layout, "add", "--all", env=ident)
    staged = trusted.run(layout, "diff", "--cached", "--quiet", env=ident, check=False)
    if staged.returncode == 0 and not (layout.git_dir / "MERGE_HEAD").exists():
        return None
    if staged.returncode not in (0, 1):
        raise AinarresError(f"cannot tell what changed in {layout.worktree}: "
                            f"{staged.stderr.strip()}")  # fmt: skip
    # The message goes through stdin so that no text in it can be read as an option.
    trusted.run(layout, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "--file=-",
                env=ident, input_bytes=message.encode())  # fmt: skip
    return trusted.run(layout, "rev-parse", "HEAD").stdout.strip()


def sweep_scratch(parent: Path) -> list[Path]:
    """Remove the scratch checkouts under ``parent`` whose process is gone; the removed."""
    removed = []
    for path in parent.glob("*-*"):
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def isolated_checkout(repo: Path, commit: str, parent: Path) -> Iterator[Path]:
    """Check ``commit`` of ``repo`` (bare or not) out in a repository of its own under
    ``parent``, sharing ``repo``'s objects read-only (alternates); yield its folder.

    Nothing is written into ``repo``, so a kill at any point cannot damage it: what is
    left is a folder named after this process, which :func:`sweep_scratch` removes once
    the process is gone. Whatever runs in the checkout may change it freely.
    """
    objects = (repo / ".git" / "objects") if (repo / ".git").is_dir() else repo / "objects"
    parent.mkdir(parents=True, exist_ok=True)
    oid = rev_parse(repo, commit)
    if oid is None:
        raise AinarresError(f"cannot check {commit[:12]} out of {repo}: no such commit")
    sweep_scratch(parent)
    path = parent / f"{os.getpid()}-{secrets.token_hex(4)}"
    try:
        git("init", "--quiet", str(path), env=clean_env())
        (path / ".git" / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")
        done = git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", oid,
                   cwd=path, env=clean_env(), check=False)  # fmt: skip
        if done.returncode != 0:
            raise AinarresError(f"cannot check {commit[:12]} out of {repo}: "
                                f"{done.stderr.strip()}")  # fmt: skip
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
