"""The gate policy as a pure function: every rule, without git or a board."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ainarres.gate.policy import (
    Decision,
    GateFacts,
    IntegrationFacts,
    MainCommit,
    MergeContent,
    NoteChange,
    NotesFacts,
    SignerFacts,
    TaskBranchFacts,
    decide,
)
from ainarres.git.pushcert import PushCert, RefUpdate

A, B, C, H, Z = "a" * 40, "b" * 40, "c" * 40, "d" * 40, "0" * 40
T, U = "e" * 40, "f" * 40  # trees
MAIN = "refs/heads/main"
TASK = "refs/heads/task/0123456789ab"
TID = "00000000-0000-4000-8000-0123456789ab"
GOOD = PushCert(status="G", signer="boss", key="SHA256:k", nonce_status="OK", nonce="17-ab")
MERGE = MainCommit(B, (A, H), TID)
MAIN_FACTS = GateFacts(
    bound=True,
    signer=SignerFacts("boss", frozenset({"integrator"})),
    fast_forward={MAIN: True},
    main_commits=(MERGE,),
    integrations={TID: IntegrationFacts("…89ab", "integrate", H, "boss", True, True)},
    merge_content={B: MergeContent(T, T), C: MergeContent(T, T)},
)
DEV = replace(GOOD, signer="dev")
TASK_FACTS = GateFacts(
    bound=True,
    signer=SignerFacts("dev", frozenset({"implementer"})),
    epoch=3,
    task_branches={TASK: TaskBranchFacts("…89ab", "implement", True, "dev", 3, True)},
)


def why(update: RefUpdate, cert: PushCert | None, facts: GateFacts) -> str:
    (decision,) = decide([update], cert, facts)
    return "allowed" if decision.allowed else decision.why


def integ(
    stage: str = "integrate",
    head: str = H,
    holder: str = "boss",
    live: bool = True,
    awaits: bool = True,
) -> dict[str, IntegrationFacts]:
    return {TID: IntegrationFacts("…89ab", stage, head, holder, live, awaits)}


def test_policy_good_integration_moves_main() -> None:
    assert decide([RefUpdate(A, B, MAIN)], GOOD, MAIN_FACTS) == [Decision(MAIN, allowed=True)]


MAIN_CASES = [
    (None, MAIN_FACTS, "the push is not signed"),
    (replace(GOOD, status="B"), MAIN_FACTS, "push certificate status is B (bad signature)"),
    (replace(GOOD, signer=""), MAIN_FACTS, "signing key SHA256:k is not in the hub's allowed"),
    (replace(GOOD, nonce_status="BAD"), MAIN_FACTS, "nonce status is BAD"),
    (replace(GOOD, nonce_status="SLOP"), MAIN_FACTS, "nonce status is SLOP"),
    (GOOD, replace(MAIN_FACTS, nonce_reused=True), "was already used (replayed certificate)"),
    (GOOD, replace(MAIN_FACTS, signer=None), "signer boss is not an integrator"),
    (
        GOOD,
        replace(MAIN_FACTS, signer=SignerFacts("boss", frozenset({"reviewer"}))),
        "signer boss is not an integrator",
    ),
    (GOOD, replace(MAIN_FACTS, fast_forward={MAIN: False}), "not a fast-forward of main"),
    (
        GOOD,
        replace(MAIN_FACTS, main_commits=(MainCommit(B, (A,), TID),)),
        "is not a merge onto the previous main",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, main_commits=(MainCommit(B, (C, H), TID),)),
        "is not a merge onto the previous main",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, main_commits=(MainCommit(B, (A, H), None),)),
        "names no task (Ainarres-Task trailer)",
    ),
    (GOOD, replace(MAIN_FACTS, integrations={}), "which the board does not know"),
    (
        GOOD,
        replace(MAIN_FACTS, integrations=integ(stage="review", awaits=False)),
        "task …89ab is in stage review, not approved for integration",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, integrations=integ(head=C)),
        f"merges {H[:12]} but task …89ab was approved at {C[:12]}",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, integrations=integ(holder="other")),
        "task …89ab is not claimed by boss with a live lease",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, integrations=integ(live=False)),
        "task …89ab is not claimed by boss with a live lease",
    ),
    (
        GOOD,
        replace(MAIN_FACTS, main_commits=(MERGE, MainCommit(C, (B, H), TID))),
        "task …89ab is merged twice in one push",
    ),
    (GOOD, replace(MAIN_FACTS, bound=False), "this hub is not bound to a board"),
]


@pytest.mark.parametrize(("cert", "facts", "expected"), MAIN_CASES)
def test_policy_main_refusals(cert: PushCert | None, facts: GateFacts, expected: str) -> None:
    assert expected in why(RefUpdate(A, B, MAIN), cert, facts)


def test_policy_main_cannot_be_deleted_or_created() -> None:
    assert why(RefUpdate(A, Z, MAIN), GOOD, MAIN_FACTS) == "main cannot be deleted"
    assert why(RefUpdate(Z, B, MAIN), GOOD, MAIN_FACTS) == "main cannot be created by a push"


def test_policy_lease_holder_pushes_task_branch() -> None:
    assert why(RefUpdate(Z, B, TASK), DEV, TASK_FACTS) == "allowed"
    assert why(RefUpdate(A, B, TASK), DEV, TASK_FACTS) == "allowed"


def branch(
    stage: str = "implement", writes: bool = True, live: bool = True
) -> dict[str, TaskBranchFacts | None]:
    return {TASK: TaskBranchFacts("…89ab", stage, writes, "dev", 3, live)}


TASK_CASES = [
    (None, TASK_FACTS, "the push is not signed"),
    (replace(DEV, signer="other"), TASK_FACTS, "task …89ab is held by dev, not by other"),
    (DEV, replace(TASK_FACTS, epoch=2), "claim epoch 2 for task …89ab, whose current epoch is 3"),
    (DEV, replace(TASK_FACTS, epoch=None), "no claim epoch for task …89ab"),
    (
        DEV,
        replace(TASK_FACTS, task_branches=branch(live=False)),
        "task …89ab is held by nobody, not by dev",
    ),
    (
        DEV,
        replace(TASK_FACTS, task_branches=branch(stage="review", writes=False)),
        "task …89ab is in stage review, which does not write its branch",
    ),
    (
        DEV,
        replace(TASK_FACTS, task_branches={TASK: None}),
        "no task on the board has branch task/0123456789ab",
    ),
]


@pytest.mark.parametrize(("cert", "facts", "expected"), TASK_CASES)
def test_policy_task_branch_refusals(
    cert: PushCert | None, facts: GateFacts, expected: str
) -> None:
    assert expected in why(RefUpdate(A, B, TASK), cert, facts)


def test_policy_task_branch_cannot_be_deleted() -> None:
    assert why(RefUpdate(A, Z, TASK), DEV, TASK_FACTS) == "task branches are not deleted"


def test_policy_review_notes_need_a_signed_reviewer() -> None:
    notes = "refs/notes/ainarres/review"
    reviewer = replace(
        TASK_FACTS,
        signer=SignerFacts("dev", frozenset({"reviewer"})),
        fast_forward={notes: True},
        notes=NotesFacts(),
    )
    assert why(RefUpdate(A, B, notes), DEV, reviewer) == "allowed"
    assert why(RefUpdate(A, B, notes), DEV, TASK_FACTS) == "signer dev is not a reviewer"
    assert why(RefUpdate(A, B, notes), None, reviewer) == "the push is not signed"
    assert why(RefUpdate(A, Z, notes), DEV, reviewer) == "review notes are not deleted"


@pytest.mark.parametrize(
    "ref", ["refs/heads/feature", "refs/tags/v1", "refs/heads/task/", "refs/notes/x", "HEAD"]
)
def test_policy_other_refs_are_refused(ref: str) -> None:
    assert "the hub only holds refs/heads/main" in why(RefUpdate(A, B, ref), GOOD, MAIN_FACTS)


def test_policy_one_bad_ref_is_reported_beside_the_good_one() -> None:
    decisions = decide([RefUpdate(A, B, MAIN), RefUpdate(A, B, "refs/heads/x")], GOOD, MAIN_FACTS)
    assert [d.allowed for d in decisions] == [True, False]
    assert decisions[1].message.startswith("ainarres gate: refused refs/heads/x: ")


CONTENT_CASES = [
    ({}, f"the content of commit {B[:12]} was not checked"),
    (
        {B: MergeContent(T, None, ("README.md", "src/x.py"))},
        f"commit {B[:12]} merges parents that conflict (git merge-tree: README.md, src/x.py)",
    ),
    (
        {B: MergeContent(U, T)},
        f"commit {B[:12]}: tree {U[:12]} is not the merge of its parents "
        f"(git merge-tree gives {T[:12]})",
    ),
    (
        {B: MergeContent(U, T, differences=(("A", "extra.txt"),))},
        f"commit {B[:12]}: tree {U[:12]} is not the merge of its parents "
        f"(git merge-tree gives {T[:12]}): it adds extra.txt",
    ),
    (
        {
            B: MergeContent(
                U,
                T,
                differences=(("M", "README.md"), ("D", "gone.txt"), ("A", "a\nb"), ("T", "l")),
            )
        },
        "(git merge-tree gives eeeeeeeeeeee): it changes README.md, removes gone.txt, "
        "adds 'a\\nb' and 1 more",
    ),
]


@pytest.mark.parametrize(("content", "expected"), CONTENT_CASES)
def test_policy_main_merge_must_hold_exactly_gits_merge(
    content: dict[str, MergeContent], expected: str
) -> None:
    facts = replace(MAIN_FACTS, merge_content=content)
    assert expected in why(RefUpdate(A, B, MAIN), GOOD, facts)
    (decision,) = decide([RefUpdate(A, B, MAIN)], GOOD, facts)
    assert "\n" not in decision.message


def test_policy_content_is_checked_for_every_merge_of_the_push() -> None:
    other = "00000000-0000-4000-8000-0123456789cd"
    second = MainCommit(C, (B, A), other)
    facts = replace(
        MAIN_FACTS,
        main_commits=(MERGE, second),
        integrations={
            **MAIN_FACTS.integrations,
            other: IntegrationFacts("…89cd", "integrate", A, "boss", True, True),
        },
    )
    assert why(RefUpdate(A, C, MAIN), GOOD, facts) == "allowed"
    evil = replace(facts, merge_content={B: MergeContent(T, T), C: MergeContent(U, T)})
    assert why(RefUpdate(A, C, MAIN), GOOD, evil).startswith(f"commit {C[:12]}: tree {U[:12]}")
    unchecked = replace(facts, merge_content={B: MergeContent(T, T)})
    assert why(RefUpdate(A, C, MAIN), GOOD, unchecked) == (
        f"the content of commit {C[:12]} was not checked"
    )


NOTES = "refs/notes/ainarres/review"
REVIEWER_FACTS = GateFacts(
    bound=True,
    signer=SignerFacts("dev", frozenset({"reviewer"})),
    fast_forward={NOTES: True},
    notes=NotesFacts(),
)
APPEND_ONLY = " (review notes are append-only)"


def notes(*changed: NoteChange, doubled: tuple[str, ...] = ()) -> GateFacts:
    return replace(REVIEWER_FACTS, notes=NotesFacts(changed, doubled))


NOTES_CASES = [
    (RefUpdate(Z, B, NOTES), REVIEWER_FACTS, "allowed"),
    (RefUpdate(Z, B, NOTES), replace(REVIEWER_FACTS, fast_forward={}), "allowed"),
    (RefUpdate(A, B, NOTES), REVIEWER_FACTS, "allowed"),
    (RefUpdate(A, B, NOTES), notes(NoteChange(C, b"one\n", b"one\n\ntwo\n")), "allowed"),
    (
        RefUpdate(A, B, NOTES),
        replace(REVIEWER_FACTS, fast_forward={NOTES: False}),
        "the update is not a fast-forward of the review notes" + APPEND_ONLY,
    ),
    (RefUpdate(A, B, NOTES), replace(REVIEWER_FACTS, fast_forward={}), "not a fast-forward"),
    (
        RefUpdate(A, B, NOTES),
        replace(REVIEWER_FACTS, notes=None),
        "the new review notes were not compared with the old ones",
    ),
    (RefUpdate(Z, B, NOTES), replace(REVIEWER_FACTS, notes=None), "were not compared"),
    (
        RefUpdate(A, B, NOTES),
        notes(NoteChange(C, b"one\n", None)),
        f"the note on {C[:12]} is removed" + APPEND_ONLY,
    ),
    (
        RefUpdate(A, B, NOTES),
        notes(NoteChange(C, b"one\n", b"ONE\n\ntwo\n")),
        f"the note on {C[:12]} is edited, not appended to" + APPEND_ONLY,
    ),
    (
        RefUpdate(A, B, NOTES),
        notes(NoteChange(C, b"one\n", b"one")),  # a byte less is an edit too
        f"the note on {C[:12]} is edited, not appended to" + APPEND_ONLY,
    ),
    (
        RefUpdate(A, B, NOTES),
        notes(
            NoteChange(A, b"a\n", b"a\nb\n"),
            NoteChange(C, b"c\n", None),
            NoteChange(H, b"h\n", b"x\n"),
            NoteChange(T, b"t\n", None),
        ),
        f"the note on {C[:12]} is removed (2 more removed or edited)" + APPEND_ONLY,
    ),
    (
        RefUpdate(Z, B, NOTES),
        notes(doubled=(C,)),
        f"the new notes tree holds more than one note for {C[:12]}",
    ),
]


@pytest.mark.parametrize(("update", "facts", "expected"), NOTES_CASES)
def test_policy_review_notes_are_append_only(
    update: RefUpdate, facts: GateFacts, expected: str
) -> None:
    got = why(update, DEV, facts)
    assert got == expected if expected == "allowed" else expected in got
