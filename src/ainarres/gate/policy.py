"""Who may move which ref on the hub. A pure function of the push and the facts about it.

``decide`` does no I/O: the hook gathers facts from git and the board first, so every rule
is testable without either, and the rules read as one page:

- main moves only forward, by a good signed push with a fresh nonce, from a family the
  board says holds the integrator role (so a denial stops it at once); each new
  first-parent commit must be the merge of a task waiting in the integration step, at
  exactly the head commit that was reviewed, claimed by the pushing family, and hold
  exactly the tree git computes for merging its two parents (`git merge-tree
  --write-tree`): no file added, changed or removed beyond the merge, and no merge of
  parents that conflict; and no commit it brings may be a canary's seeded head;
- ``refs/heads/task/<id>`` moves only by a signed push from the family holding that
  task's live lease, in a stage that writes the branch, at the current claim epoch;
- ``refs/notes/ainarres/review`` (the review annotations' mirror) moves only by a signed
  push from a family holding the reviewer role, and is append-only: created, or moved by
  a fast-forward after which every note of the old notes tree (by annotated object, however
  the tree is fanned out) still starts with its old bytes;
- every other ref is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ainarres.git.layout import MAIN_REF, TASK_PREFIX, TASK_TRAILER
from ainarres.git.pushcert import PushCert, RefUpdate

INTEGRATOR_ROLE = "integrator"
REVIEWER_ROLE = "reviewer"
NOTES_REF = "refs/notes/ainarres/review"


@dataclass(frozen=True)
class SignerFacts:
    """The board's view of the principal that signed the push (a family name)."""

    family: str
    roles: frozenset[str]


@dataclass(frozen=True)
class TaskBranchFacts:
    """The board's view of the task a `task/<id>` branch belongs to."""

    short_id: str
    stage: str
    writes_branch: bool
    holder_family: str | None
    epoch: int
    lease_live: bool


@dataclass(frozen=True)
class MainCommit:
    """A commit on the new main's first-parent chain, above the old main."""

    oid: str
    parents: tuple[str, ...]
    task_id: str | None


@dataclass(frozen=True)
class MergeContent:
    """A main commit's tree beside the tree git computes for merging its two parents."""

    tree: str
    merged: str | None  # `git merge-tree --write-tree <parent1> <parent2>`; None: conflict
    conflicts: tuple[str, ...] = ()  # the conflicting paths, when merged is None
    # (status, path) where the commit's tree differs from merged: A adds, D removes, M/T
    # changes. The hook fills it only for a commit whose tree differs.
    differences: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NoteChange:
    """A note of the old notes tree that the new tree does not hold byte for byte."""

    annotated: str  # the annotated object's id
    old: bytes
    new: bytes | None  # None: the new tree has no note for that object


@dataclass(frozen=True)
class NotesFacts:
    """How a push of the review notes treats the notes already on the hub."""

    changed: Sequence[NoteChange] = ()
    doubled: Sequence[str] = ()  # objects with more than one note in the new tree


@dataclass(frozen=True)
class IntegrationFacts:
    """The board's view of a task that a commit on main claims to integrate."""

    short_id: str
    stage: str
    head_commit: str | None
    holder_family: str | None
    lease_live: bool
    awaits_integration: bool


@dataclass(frozen=True)
class GateFacts:
    """Everything the policy may consult beyond the push itself."""

    bound: bool = False  # the hub is bound to a board
    signer: SignerFacts | None = None
    epoch: int | None = None  # the claim epoch sent as push option ainarres-epoch
    fast_forward: Mapping[str, bool] = field(default_factory=dict)
    nonce_reused: bool = False
    task_branches: Mapping[str, TaskBranchFacts | None] = field(default_factory=dict)
    main_commits: Sequence[MainCommit] = ()
    integrations: Mapping[str, IntegrationFacts] = field(default_factory=dict)
    # commits the push brings to main that the board knows as seeded heads (canaries)
    seeded: frozenset[str] = frozenset()
    # by commit id; a commit without an entry was not checked, and is refused
    merge_content: Mapping[str, MergeContent] = field(default_factory=dict)
    notes: NotesFacts | None = None  # None: the notes were not compared (refused)


@dataclass(frozen=True)
class Decision:
    """The verdict on one ref update, with the reason and what to do when refused."""

    ref: str
    allowed: bool
    why: str = ""
    remedy: str = ""

    @property
    def message(self) -> str:
        """The line the pusher sees (as ``remote: ...``) for a refusal."""
        return f"ainarres gate: refused {self.ref}: {self.why}; {self.remedy}"


def _refuse(ref: str, why: str, remedy: str) -> Decision:
    return Decision(ref=ref, allowed=False, why=why, remedy=remedy)


def _signature_problem(
    cert: PushCert | None, facts: GateFacts, unsigned_remedy: str
) -> tuple[str, str] | None:
    """Why a push certificate is not good enough, or None."""
    if cert is None:
        return "the push is not signed", unsigned_remedy
    if cert.status != "G":
        return (
            f"push certificate status is {cert.status or '?'} ({cert.status_meaning})",
            "sign the push with your family's ssh key (gpg.format=ssh, user.signingkey)",
        )
    if not cert.signer:
        return (
            f"signing key {cert.key or '?'} is not in the hub's allowed signers",
            "ask the person who runs the hub to add your family's public key",
        )
    if cert.nonce_status != "OK":
        return (
            f"push certificate nonce status is {cert.nonce_status or '?'} "
            "(replayed or stale certificate)",
            "push again so that the certificate signs the nonce this hub just issued",
        )
    if facts.nonce_reused:
        return (
            f"push certificate with nonce {cert.nonce} was already used (replayed certificate)",
            "push again so that the certificate signs a fresh nonce",
        )
    return None


def _decide_main(update: RefUpdate, cert: PushCert | None, facts: GateFacts) -> Decision:
    ref = update.ref
    if update.is_delete:
        return _refuse(ref, "main cannot be deleted", "undo a change with a new commit instead")
    if update.is_create:
        return _refuse(
            ref, "main cannot be created by a push", "make the hub with `ainarres hub init`"
        )
    problem = _signature_problem(
        cert, facts, "only an integrator may update main, with a signed push (git push --signed)"
    )
    if problem:
        return _refuse(ref, *problem)
    assert cert is not None
    signer = facts.signer
    if signer is None or INTEGRATOR_ROLE not in signer.roles:
        return _refuse(
            ref,
            f"signer {cert.signer} is not an integrator",
            "push to refs/heads/task/<id> and let `ainarres integrate` merge it",
        )
    if not facts.fast_forward.get(ref, False):
        return _refuse(
            ref,
            "the update is not a fast-forward of main",
            "fetch main, merge onto it, and push again",
        )
    if facts.seeded:
        first = sorted(facts.seeded)[0]
        return _refuse(
            ref,
            f"commit {first[:12]} is the seeded head of a canary review, which never ships",
            "merge the task's own head, which the board holds once the seeded round is judged",
        )
    return _check_integrations(ref, update.old, signer.family, facts)


def _check_integrations(ref: str, old: str, family: str, facts: GateFacts) -> Decision:
    """Each new first-parent commit must merge one approved task at its reviewed head."""
    remedy = "only `ainarres integrate` moves main, one merge per approved task"
    previous = old
    seen: set[str] = set()
    for commit in facts.main_commits:
        short = commit.oid[:12]
        if len(commit.parents) != 2 or commit.parents[0] != previous:
            return _refuse(ref, f"commit {short} is not a merge onto the previous main", remedy)
        if commit.task_id is None:
            return _refuse(ref, f"commit {short} names no task ({TASK_TRAILER} trailer)", remedy)
        task = facts.integrations.get(commit.task_id)
        if task is None:
            return _refuse(
                ref,
                f"commit {short} names task {commit.task_id}, which the board does not know",
                remedy,
            )
        if commit.task_id in seen:
            return _refuse(ref, f"task {task.short_id} is merged twice in one push", remedy)
        seen.add(commit.task_id)
        if not task.awaits_integration:
            return _refuse(
                ref,
                f"task {task.short_id} is in stage {task.stage}, not approved for integration",
                remedy,
            )
        if task.head_commit != commit.parents[1]:
            return _refuse(
                ref,
                f"commit {short} merges {commit.parents[1][:12]} but task "
                f"{task.short_id} was approved at {(task.head_commit or '?')[:12]}",
                "merge exactly the reviewed head commit; a moved branch needs a new review",
            )
        if task.holder_family != family or not task.lease_live:
            return _refuse(
                ref,
                f"task {task.short_id} is not claimed by {family} with a live lease",
                "claim the integration step on the board before pushing",
            )
        refused = _check_content(ref, commit, task, facts.merge_content.get(commit.oid))
        if refused is not None:
            return refused
        previous = commit.oid
    return Decision(ref=ref, allowed=True)


_CHANGE = {"A": "adds", "D": "removes", "M": "changes", "T": "changes the type of"}
_SHOWN = 3  # paths named in a refusal; the rest are counted


def _path(path: str) -> str:
    # A path is the pusher's text: a newline in it must not break the one-line message.
    return path if path.isprintable() else repr(path)


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _check_content(
    ref: str, commit: MainCommit, task: IntegrationFacts, content: MergeContent | None
) -> Decision | None:
    """The merge must hold exactly what git's merge of its parents holds: an evil merge
    (a file added, changed or removed beyond the merge) or a resolved conflict is refused."""
    short = commit.oid[:12]
    if content is None:
        return _refuse(
            ref,
            f"the content of commit {short} was not checked",
            "push again; if this repeats, tell the hub admin",
        )
    if content.merged is None:
        paths = _listed([_path(p) for p in content.conflicts]) or "?"
        return _refuse(
            ref,
            f"commit {short} merges parents that conflict (git merge-tree: {paths})",
            f"return task {task.short_id} so that its branch merges main and resolves the "
            "conflict, and have it reviewed again",
        )
    if content.merged != content.tree:
        what = _listed([f"{_CHANGE.get(s, s)} {_path(p)}" for s, p in content.differences])
        return _refuse(
            ref,
            f"commit {short}: tree {content.tree[:12]} is not the merge of its parents "
            f"(git merge-tree gives {content.merged[:12]})" + (f": it {what}" if what else ""),
            "merge with `ainarres integrate`, whose merge commit holds exactly git's merge "
            "of the two parents",
        )
    return None


def _decide_task(update: RefUpdate, cert: PushCert | None, facts: GateFacts) -> Decision:
    ref = update.ref
    if update.is_delete:
        return _refuse(ref, "task branches are not deleted", "`ainarres worktree prune` cleans up")
    problem = _signature_problem(
        cert, facts, "the lease holder pushes its task branch signed (`ainarres push`)"
    )
    if problem:
        return _refuse(ref, *problem)
    assert cert is not None
    task = facts.task_branches.get(ref)
    if task is None:
        return _refuse(
            ref,
            f"no task on the board has branch {ref.removeprefix('refs/heads/')}",
            "push the branch `ainarres next` prepared for your claim",
        )
    if task.holder_family != cert.signer or not task.lease_live:
        holder = task.holder_family if task.lease_live else "nobody"
        return _refuse(
            ref,
            f"task {task.short_id} is held by {holder}, not by {cert.signer}",
            "claim the task with `ainarres next` before pushing its branch",
        )
    if not task.writes_branch:
        return _refuse(
            ref,
            f"task {task.short_id} is in stage {task.stage}, which does not write its branch",
            "only the implementing step pushes the task branch",
        )
    if facts.epoch != task.epoch:
        sent = "no claim epoch" if facts.epoch is None else f"claim epoch {facts.epoch}"
        return _refuse(
            ref,
            f"{sent} for task {task.short_id}, whose current epoch is {task.epoch} (a stale claim)",
            "drop this work: the task was claimed again after yours",
        )
    return Decision(ref=ref, allowed=True)


def _decide_notes(update: RefUpdate, cert: PushCert | None, facts: GateFacts) -> Decision:
    ref = update.ref
    if update.is_delete:
        return _refuse(ref, "review notes are not deleted", "append a note instead")
    problem = _signature_problem(
        cert, facts, "review notes are pushed signed by a reviewer (`ainarres review annotate`)"
    )
    if problem:
        return _refuse(ref, *problem)
    assert cert is not None
    if facts.signer is None or REVIEWER_ROLE not in facts.signer.roles:
        return _refuse(
            ref, f"signer {cert.signer} is not a reviewer", "only reviewers write review notes"
        )
    append = "keep every note and add to it with `git notes append`"
    if not update.is_create and not facts.fast_forward.get(ref, False):
        return _refuse(
            ref,
            "the update is not a fast-forward of the review notes (review notes are append-only)",
            "fetch the notes ref, add to it with `git notes append`, and push again",
        )
    notes = facts.notes
    if notes is None:
        return _refuse(
            ref,
            "the new review notes were not compared with the old ones",
            "push again; if this repeats, tell the hub admin",
        )
    if notes.doubled:
        return _refuse(
            ref,
            f"the new notes tree holds more than one note for {notes.doubled[0][:12]}",
            "write review notes with `git notes`, which keeps one note per object",
        )
    lost = [c for c in notes.changed if c.new is None or not c.new.startswith(c.old)]
    if lost:
        first = lost[0]
        what = "removed" if first.new is None else "edited, not appended to"
        more = f" ({len(lost) - 1} more removed or edited)" if len(lost) > 1 else ""
        return _refuse(
            ref,
            f"the note on {first.annotated[:12]} is {what}{more} (review notes are append-only)",
            append,
        )
    return Decision(ref=ref, allowed=True)


def decide(updates: Sequence[RefUpdate], cert: PushCert | None, facts: GateFacts) -> list[Decision]:
    """One Decision per update, in order (git refuses the whole push if any is refused)."""
    decisions: list[Decision] = []
    for update in updates:
        if not facts.bound:
            decisions.append(
                _refuse(
                    update.ref,
                    "this hub is not bound to a board",
                    "bind it with `ainarres hub init` (or `ainarres hub bind`)",
                )
            )
        elif update.ref == MAIN_REF:
            decisions.append(_decide_main(update, cert, facts))
        elif update.ref.startswith(TASK_PREFIX) and len(update.ref) > len(TASK_PREFIX):
            decisions.append(_decide_task(update, cert, facts))
        elif update.ref == NOTES_REF:
            decisions.append(_decide_notes(update, cert, facts))
        else:
            decisions.append(
                _refuse(
                    update.ref,
                    "the hub only holds refs/heads/main, refs/heads/task/<id> and review notes",
                    "push your work to the task branch of your claim",
                )
            )
    return decisions
