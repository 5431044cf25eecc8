"""What the gate asks git about a push: is it a fast-forward, which commits does it add on
main's first-parent chain, what tree git computes for merging two commits, and what the
review notes held before and after. The git CLI only, no pygit2: the hook runs on every
push and must stay cheap to start.

Every function takes the environment to run git with. In the hook that is the hook's own
environment, which carries GIT_QUARANTINE_PATH and the alternates that make the pushed
(still quarantined) objects visible; the trees `git merge-tree` writes go to the
quarantine too, and vanish with a refused push.

:func:`merge_tree` is also how `ainarres integrate` merges (``git.merge``), so the gate
and the integrator compute a merge with the same command and the same pinned settings.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ainarres.git.layout import TASK_TRAILER

_FORMAT = f"%H %T %P%x1f%(trailers:key={TASK_TRAILER},valueonly,separator=%x2c)%x1e"
_NOTE_PATH = re.compile(rb"(?:[0-9a-fA-F]{2}/)*[0-9a-fA-F]+")
_NOTE_MODES = (b"100644", b"100755")
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# What could make two machines merge the same commits differently, pinned on the command
# line: the hub account's and the integrator's own git config (rename detection,
# renormalization) and a global attributes file (merge drivers such as `merge=union`).
# git 2.39 reads no .gitattributes from the merged trees in a bare repository; newer git
# can (attr.tree, and HEAD's tree by default in bare repositories), so attr.tree is
# pinned to the empty tree to keep that so. Not pinned: $GIT_DIR/info/attributes of the
# hub or of the integrator's mirror, which ainarres never writes.
_MERGE_CONFIG = (
    *("-c", "merge.renames=true"),
    *("-c", "merge.directoryRenames=conflict"),
    *("-c", "merge.renameLimit=7000"),
    *("-c", "merge.renormalize=false"),
    *("-c", "core.attributesFile=/dev/null"),
    *("-c", f"attr.tree={_EMPTY_TREE}"),
)


@dataclass(frozen=True)
class FirstParent:
    """A commit of the new first-parent chain: its tree, its parents, and its task trailer
    (None unless exactly one)."""

    oid: str
    tree: str
    parents: tuple[str, ...]
    task_id: str | None


@dataclass(frozen=True)
class MergedTree:
    """What `git merge-tree --write-tree` gives for two commits: the merged tree, or (tree
    None) the paths that conflict."""

    tree: str | None
    conflicts: tuple[str, ...] = ()
    # on a conflict: the tree with conflict markers in its files (not part of the answer)
    marked: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NotesDiff:
    """How a new notes tree holds the notes of the old one, by annotated object id.

    ``changed`` has (annotated object, old note, new note or None when it is gone) for
    each note of the old tree that the new tree does not hold byte for byte; ``doubled``
    the annotated objects that have more than one note in the new tree.
    """

    changed: tuple[tuple[str, bytes, bytes | None], ...] = ()
    doubled: tuple[str, ...] = ()


def _git(
    args: list[str], repo: Path, env: Mapping[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env=dict(env),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        check=False,
    )


def _failed(what: str, done: subprocess.CompletedProcess[bytes]) -> RuntimeError:
    return RuntimeError(f"git {what} failed: {done.stderr.decode(errors='replace').strip()}")


def is_ancestor(repo: Path, old: str, new: str, env: Mapping[str, str]) -> bool:
    """Whether `new` descends from `old`; raises when git cannot tell (an unknown object)."""
    done = _git(["merge-base", "--is-ancestor", old, new], repo, env)
    if done.returncode not in (0, 1):
        raise _failed("merge-base", done)
    return done.returncode == 0


def first_parents_since(
    repo: Path, old: str, new: str, env: Mapping[str, str]
) -> list[FirstParent]:
    """The first-parent commits of `new` not reachable from `old`, oldest first: a walk of
    old..new only, so its cost follows the size of the push, not of the history."""
    done = _git(["log", "--first-parent", f"--format={_FORMAT}", f"{old}..{new}"], repo, env)
    if done.returncode != 0:
        raise _failed("log", done)
    commits = []
    for record in done.stdout.decode().split("\x1e"):
        record = record.strip()
        if not record:
            continue
        head, _, trailer = record.partition("\x1f")
        oid, tree, *parents = head.split()
        values = [v.strip() for v in trailer.split(",") if v.strip()]
        commits.append(
            FirstParent(oid, tree, tuple(parents), values[0] if len(values) == 1 else None)
        )
    return list(reversed(commits))


def commits_since(repo: Path, old: str, new: str, env: Mapping[str, str]) -> list[str]:
    """Every commit of `new` not reachable from `old` (any parent, not only the first)."""
    done = _git(["rev-list", f"{old}..{new}"], repo, env)
    if done.returncode != 0:
        raise _failed("rev-list", done)
    return done.stdout.decode().split()


def merge_tree(repo: Path, ours: str, theirs: str, env: Mapping[str, str]) -> MergedTree:
    """`git merge-tree --write-tree ours theirs` (git >= 2.38): the tree of their merge.

    Raises when git cannot merge them at all (histories with no common commit, an unknown
    object). Run in a bare repository, as the gate and `ainarres integrate` both do, git
    2.39 reads no .gitattributes from the merged trees, so a merge driver such as
    `merge=union` is not applied: where a merge in a worktree would union two edits of a
    line, this reports a conflict.
    """
    return merge_trees(repo, [(ours, theirs)], env, jobs=1)[0]


def merge_trees(
    repo: Path,
    pairs: Sequence[tuple[str, str]],
    env: Mapping[str, str],
    jobs: int | None = None,
) -> list[MergedTree]:
    """:func:`merge_tree` of each (ours, theirs) pair, in order, with up to `jobs` (by
    default one per CPU) running at once: the merges of a push are independent, so a
    push of many merges does not wait for them one after the other."""
    args = [*_MERGE_CONFIG, "merge-tree", "--write-tree", "--name-only", "-z", "--no-messages"]
    run_env = {**env, "GIT_ATTR_NOSYSTEM": "1"}
    limit = max(1, jobs or os.cpu_count() or 1)
    running: deque[tuple[str, str, subprocess.Popen[bytes]]] = deque()
    merged: list[MergedTree] = []

    def finish() -> None:
        ours, theirs, proc = running.popleft()
        out, err = proc.communicate()
        tree, *paths = out.decode(errors="replace").split("\0")
        # 0: merged; 1: conflicts, after the tree. git also exits 1, with no tree, for an
        # unknown commit: that, like any other exit, is a failure, not a conflict.
        if proc.returncode not in (0, 1) or not _OID.fullmatch(tree.strip()):
            raise RuntimeError(
                f"git merge-tree {ours[:12]} {theirs[:12]} failed: "
                f"{err.decode(errors='replace').strip()}"
            )
        if proc.returncode == 0:
            merged.append(MergedTree(tree.strip()))
        else:
            merged.append(MergedTree(None, tuple(p for p in paths if p), tree.strip()))

    try:
        for ours, theirs in pairs:
            if len(running) >= limit:
                finish()
            proc = subprocess.Popen(
                ["git", *args, ours, theirs],
                cwd=repo,
                env=run_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            running.append((ours, theirs, proc))
        while running:
            finish()
    finally:
        for _, _, proc in running:  # after a failure: stop the others
            proc.kill()
            proc.communicate()
    return merged


def tree_changes(repo: Path, old: str, new: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(status, path) of each file that differs from tree `old` to tree `new`: A added,
    D deleted, M modified, T type changed (no rename detection)."""
    done = _git(["diff-tree", "-r", "--no-renames", "--name-status", "-z", old, new], repo, env)
    if done.returncode != 0:
        raise _failed("diff-tree", done)
    fields = done.stdout.decode(errors="replace").split("\0")
    return [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def _notes(repo: Path, commit: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(annotated object, note blob) for each note in a notes commit, in tree order.

    A notes tree may be fanned out (`ab/cdef...`, `ab/cd/ef...`), and git re-fans it as
    notes are added: the annotated object is the path without its slashes. Only what git
    reads as a note counts: a regular file whose path is two-hex-digit folders and then
    the rest of a full object id, in either case. Anything else in the tree (`a/bcdef...`,
    a symlink) git ignores, so a note moved there is a note removed.
    """
    done = _git(["ls-tree", "-r", "-z", "--full-tree", commit], repo, env)
    if done.returncode != 0:
        raise _failed("ls-tree", done)
    entries = []
    for record in done.stdout.split(b"\0"):
        meta, _, path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) != 3 or fields[0] not in _NOTE_MODES or not _NOTE_PATH.fullmatch(path):
            continue
        annotated = path.replace(b"/", b"").decode().lower()
        if len(annotated) == len(commit):  # a full object id, in the hub's hash
            entries.append((annotated, fields[2].decode()))
    return entries


def read_blobs(repo: Path, oids: Iterable[str], env: Mapping[str, str]) -> dict[str, bytes]:
    """The contents of the given objects, with one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    done = _git(
        ["cat-file", "--batch"], repo, env, stdin="".join(f"{o}\n" for o in wanted).encode()
    )
    if done.returncode != 0:
        raise _failed("cat-file", done)
    out, pos, found = done.stdout, 0, {}
    for oid in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3:
            raise RuntimeError(f"git cat-file cannot read {oid}: {out[pos:end].decode()}")
        size = int(header[2])
        found[oid] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return found


def notes_diff(repo: Path, old: str | None, new: str, env: Mapping[str, str]) -> NotesDiff:
    """Compare the notes of notes commit `old` (None: there were none) with those of `new`.

    Two `ls-tree -r` and, only for the notes whose blob changed, one `cat-file --batch`:
    its cost follows the number of notes, and only changed notes are read."""
    new_notes: dict[str, str] = {}
    doubled: list[str] = []
    for annotated, blob in _notes(repo, new, env):
        if annotated in new_notes:
            doubled.append(annotated)
        else:
            new_notes[annotated] = blob
    old_notes = _notes(repo, old, env) if old is not None else []
    differing = [(a, blob, new_notes.get(a)) for a, blob in old_notes if new_notes.get(a) != blob]
    blobs = read_blobs(repo, [b for _, o, n in differing for b in (o, n) if b is not None], env)
    changed = tuple((a, blobs[o], None if n is None else blobs[n]) for a, o, n in differing)
    return NotesDiff(changed, tuple(doubled))
