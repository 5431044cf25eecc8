"""Review notes are append-only at the gate (real pushes of refs/notes/ainarres/review).

A reviewer may create the notes ref, add notes and append to notes; it may not remove a
note, edit one, or move the ref anywhere but forward. Notes are compared by annotated
object, so a tree that git re-fans (`ab/cdef...`) as notes grow is compared correctly.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
from pathlib import Path

from scenario import REVIEWER, Project, git

from ainarres import project
from ainarres.git import notes as git_notes
from ainarres.git.push import PushResult, clone_hub

NOTES = "refs/notes/ainarres/review"
REFUSED = f"ainarres gate: refused {NOTES}: "
APPEND_ONLY = (
    " (review notes are append-only); keep every note and add to it with `git notes append`"
)


def note(proj: Project, *args: str) -> str:
    return git(proj.clone, "notes", f"--ref={NOTES}", *args)


def push_notes(proj: Project, *, force: bool = False) -> PushResult:
    return proj.push(f"{'+' if force else ''}{NOTES}:{NOTES}", REVIEWER)


def hub_note(proj: Project, obj: str) -> str:
    return git(proj.hub, "notes", f"--ref={NOTES}", "show", obj)


def hub_notes(proj: Project) -> dict[str, str]:
    """Every note on the hub, by annotated object, as `git notes` reads it."""
    listed = git(proj.hub, "notes", f"--ref={NOTES}", "list")
    objects = [line.split()[1] for line in listed.splitlines()]
    return {o: git(proj.hub, "notes", f"--ref={NOTES}", "show", o) for o in objects}


def reset_to_hub(proj: Project) -> None:
    """Throw away local notes work: the clone's notes ref back at the hub's."""
    git(proj.clone, "fetch", "--quiet", "origin", f"+{NOTES}:{NOTES}")


def objects(proj: Project) -> list[str]:
    """Four objects on main to annotate: its commit, its tree and two of its files."""
    revs = ("origin/main", "origin/main^{tree}", "origin/main:README.md", "origin/main:tests")
    return [git(proj.clone, "rev-parse", rev) for rev in revs]


def notes_commit(proj: Project, entries: dict[str, bytes], parent: str | None) -> str:
    """A notes commit written by hand: `entries` maps tree paths to note texts."""
    blobs = {path: hash_blob(proj.clone, text) for path, text in entries.items()}
    tree = make_tree(proj.clone, blobs)
    args = ["commit-tree", *(["-p", parent] if parent else []), "-m", "Notes by hand", tree]
    return git(proj.clone, *args)


def hash_blob(repo: Path, text: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


def make_tree(repo: Path, blobs: dict[str, str]) -> str:
    """A tree of blobs at (possibly nested) paths, built bottom-up with `git mktree`."""
    files = {p: b for p, b in blobs.items() if "/" not in p}
    folders: dict[str, dict[str, str]] = {}
    for path, blob in blobs.items():
        if "/" in path:
            top, _, rest = path.partition("/")
            folders.setdefault(top, {})[rest] = blob
    lines = [f"100644 blob {b}\t{p}\n" for p, b in files.items()]
    lines += [f"040000 tree {make_tree(repo, sub)}\t{p}\n" for p, sub in folders.items()]
    done = subprocess.run(
        ["git", "mktree"], cwd=repo, input="".join(lines).encode(), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


def test_notes_can_be_added_and_appended_to_but_not_erased(proj: Project) -> None:
    x, y, z, w = objects(proj)
    for obj in (x, y, z):
        note(proj, "add", "-m", f"first note on {obj[:7]}", obj)
    assert push_notes(proj).ok  # the ref's creation
    note(proj, "append", "-m", "a second thought", x)
    note(proj, "add", "-m", "a new note", w)
    appended = push_notes(proj)
    assert appended.ok, appended.remote_lines
    assert hub_notes(proj) == {
        x: f"first note on {x[:7]}\n\na second thought",
        y: f"first note on {y[:7]}",
        z: f"first note on {z[:7]}",
        w: "a new note",
    }
    before = proj.refs()
    # The red team's erase: a signed fast-forward to a notes commit with no notes.
    empty = git(proj.clone, "commit-tree", "-p", NOTES, "-m", "erase", make_tree(proj.clone, {}))
    git(proj.clone, "update-ref", NOTES, empty)
    erased = push_notes(proj)
    assert erased.remote_lines == (
        REFUSED
        + f"the note on {min(x, y, z, w)[:12]} is removed (3 more removed or edited)"
        + APPEND_ONLY,
    )
    assert proj.refs() == before


def test_notes_cannot_be_edited_removed_or_rewritten(proj: Project) -> None:
    x, y, z, _ = objects(proj)
    for obj in (x, y, z):
        note(proj, "add", "-m", f"note on {obj[:7]}", obj)
    assert push_notes(proj).ok
    hub = proj.hub_ref(NOTES)
    before = proj.refs()

    note(proj, "add", "-f", "-m", "something else", y)
    edited = push_notes(proj)
    assert edited.remote_lines == (
        REFUSED + f"the note on {y[:12]} is edited, not appended to" + APPEND_ONLY,
    )
    reset_to_hub(proj)

    # Text put before the old note is an edit, though the old text is still there.
    note(proj, "add", "-f", "-m", f"inserted first\n\nnote on {y[:7]}", y)
    assert "edited, not appended to" in push_notes(proj).remote_lines[0]
    reset_to_hub(proj)

    note(proj, "remove", z)
    removed = push_notes(proj)
    assert removed.remote_lines == (REFUSED + f"the note on {z[:12]} is removed" + APPEND_ONLY,)
    reset_to_hub(proj)

    # Every old note kept, one appended to, but on a history that drops the hub's.
    tree_now = git(proj.clone, "rev-parse", f"{NOTES}^{{tree}}")
    rewritten = git(proj.clone, "commit-tree", "-m", "rewritten", tree_now)
    git(proj.clone, "update-ref", NOTES, rewritten)
    note(proj, "append", "-m", "more", x)
    forced = push_notes(proj, force=True)
    assert forced.remote_lines == (
        REFUSED + "the update is not a fast-forward of the review notes (review notes are "
        "append-only); fetch the notes ref, add to it with `git notes append`, and push again",
    )
    assert proj.refs() == before and proj.hub_ref(NOTES) == hub


def fake_id(n: int) -> str:
    return hashlib.sha1(f"annotated object {n}".encode()).hexdigest()


def test_notes_are_compared_by_object_across_fanout(proj: Project) -> None:
    # 300 notes in one flat tree: past 256 notes git fans the tree out when it next
    # writes it (`ab/cdef...`), so every note's path changes.
    flat = {fake_id(n): f"note {n}\n".encode() for n in range(300)}
    assert push_notes_commit(proj, notes_commit(proj, flat, None)).ok
    one, two = fake_id(7), fake_id(8)
    note(proj, "append", "-m", "appended", one)
    paths = git(proj.clone, "ls-tree", "-r", "--name-only", NOTES).splitlines()
    assert len(paths) == 300 and all(p[2] == "/" for p in paths)  # git re-fanned the tree
    appended = push_notes(proj)
    assert appended.ok, appended.remote_lines
    assert hub_note(proj, one) == "note 7\n\nappended"
    fanned = proj.hub_ref(NOTES)
    assert fanned is not None

    # Flat again by hand, one note left out or one edited: refused.
    flat[one] = b"note 7\n\nappended\n"
    without = notes_commit(proj, {k: v for k, v in flat.items() if k != fake_id(99)}, fanned)
    assert push_notes_commit(proj, without).remote_lines == (
        REFUSED + f"the note on {fake_id(99)[:12]} is removed" + APPEND_ONLY,
    )
    edited = notes_commit(proj, {**flat, fake_id(5): b"note five\n"}, fanned)
    assert push_notes_commit(proj, edited).remote_lines == (
        REFUSED + f"the note on {fake_id(5)[:12]} is edited, not appended to" + APPEND_ONLY,
    )
    # Moved where git does not read it as a note (a one-digit folder): removed.
    three = fake_id(3)
    moved = {k: v for k, v in flat.items() if k != three} | {f"{three[0]}/{three[1:]}": flat[three]}
    assert push_notes_commit(proj, notes_commit(proj, moved, fanned)).remote_lines == (
        REFUSED + f"the note on {three[:12]} is removed" + APPEND_ONLY,
    )
    # Two levels deep by hand, with one note also written flat: refused, git would read both.
    flat[two] += b"\nappended too\n"
    deep = {f"{k[:2]}/{k[2:4]}/{k[4:]}": v for k, v in flat.items()}
    twice = notes_commit(proj, {**deep, one: flat[one]}, fanned)
    assert push_notes_commit(proj, twice).remote_lines == (
        REFUSED + f"the new notes tree holds more than one note for {one[:12]}; write review "
        "notes with `git notes`, which keeps one note per object",
    )
    assert proj.hub_ref(NOTES) == fanned
    # Every note kept, whatever the fanout: an append, from fanned to deeper to flat.
    landed = push_notes_commit(proj, notes_commit(proj, deep, fanned))
    assert landed.ok, landed.remote_lines
    assert hub_note(proj, two) == "note 8\n\nappended too"
    flat[fake_id(9)] += b"\nand more\n"
    deep_tip = proj.hub_ref(NOTES)
    landed = push_notes_commit(proj, notes_commit(proj, flat, deep_tip))
    assert landed.ok, landed.remote_lines
    assert hub_note(proj, fake_id(9)) == "note 9\n\nand more"
    assert hub_note(proj, one) == "note 7\n\nappended"


def push_notes_commit(proj: Project, commit: str) -> PushResult:
    git(proj.clone, "update-ref", NOTES, commit)
    result = push_notes(proj)
    if not result.ok:
        reset_to_hub(proj)
    return result


def test_notes_append_and_push_from_reviewers_at_once_all_land(
    proj: Project, tmp_path: Path
) -> None:
    """Reviewers appending to the same note at the same moment: each push either lands or
    loses the race at the ref update (not at the gate), fetches, appends again and retries."""
    x = objects(proj)[0]
    key = project.family_key(proj.board.settings, REVIEWER)
    clones = [clone_hub(proj.hub, tmp_path / f"reviewer{n}") for n in range(4)]
    results: dict[int, PushResult] = {}
    start = threading.Barrier(len(clones))

    def review(n: int) -> None:
        start.wait()
        results[n] = git_notes.append_and_push(
            clones[n], str(proj.hub), x, f"line {n}", key, attempts=12
        )

    threads = [threading.Thread(target=review, args=(n,)) for n in range(len(clones))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results.values()), {n: r.remote_lines for n, r in results.items()}
    lines = hub_note(proj, x).split("\n\n")
    assert sorted(lines) == [f"line {n}" for n in range(len(clones))]
