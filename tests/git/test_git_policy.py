"""The draft gate policy as a pure function."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ainarres.git.policy_draft import Decision, GateFacts, decide
from ainarres.git.pushcert import PushCert, RefUpdate

A = "a" * 40
B = "b" * 40
ZERO = "0" * 40
MAIN = "refs/heads/main"
GOOD = PushCert(status="G", signer="boss", key="SHA256:k", nonce_status="OK", nonce="1700000000-ab")
FACTS = GateFacts(integrators=frozenset({"boss"}), fast_forward={MAIN: True})


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1
    return decisions[0]


def test_good_integrator_push_moves_main() -> None:
    assert only(decide([RefUpdate(A, B, MAIN)], GOOD, FACTS)) == Decision(MAIN, allowed=True)


@pytest.mark.parametrize(
    ("cert", "facts", "why"),
    [
        (None, FACTS, "the push is not signed"),
        (replace(GOOD, status="B"), FACTS, "push certificate status is B (bad signature)"),
        (replace(GOOD, status="E"), FACTS, "status is E (signature cannot be checked)"),
        (replace(GOOD, signer=""), FACTS, "signing key SHA256:k is not in the hub's allowed"),
        (replace(GOOD, signer="agent"), FACTS, "signer agent is not an integrator"),
        (GOOD, replace(FACTS, integrators=frozenset()), "signer boss is not an integrator"),
        (replace(GOOD, nonce_status="BAD"), FACTS, "nonce status is BAD"),
        (replace(GOOD, nonce_status="SLOP"), FACTS, "nonce status is SLOP"),
        (replace(GOOD, nonce_status="MISSING"), FACTS, "nonce status is MISSING"),
        (
            GOOD,
            replace(FACTS, nonce_reused=True),
            "certificate with nonce 1700000000-ab was already used",
        ),
        (GOOD, replace(FACTS, fast_forward={MAIN: False}), "not a fast-forward of main"),
        (GOOD, replace(FACTS, fast_forward={}), "not a fast-forward of main"),
    ],
)
def test_main_refusals(cert: PushCert | None, facts: GateFacts, why: str) -> None:
    decision = only(decide([RefUpdate(A, B, MAIN)], cert, facts))
    assert not decision.allowed
    assert why in decision.why
    assert decision.message.startswith(f"ainarres gate: refused {MAIN}: {decision.why}; ")
    assert decision.remedy


def test_deleting_main_is_refused_even_for_an_integrator() -> None:
    decision = only(decide([RefUpdate(A, ZERO, MAIN)], GOOD, FACTS))
    assert (decision.allowed, decision.why) == (False, "main cannot be deleted")


def test_creating_main_needs_no_ancestry_but_a_good_certificate() -> None:
    assert only(decide([RefUpdate(ZERO, B, MAIN)], GOOD, GateFacts(frozenset({"boss"})))).allowed
    assert not only(decide([RefUpdate(ZERO, B, MAIN)], None, FACTS)).allowed


@pytest.mark.parametrize("cert", [None, GOOD, replace(GOOD, status="B")])
def test_task_branches_are_open_for_now(cert: PushCert | None) -> None:
    for update in (
        RefUpdate(ZERO, B, "refs/heads/task/abc"),
        RefUpdate(A, B, "refs/heads/task/a/b"),
    ):
        assert only(decide([update], cert, GateFacts())).allowed


@pytest.mark.parametrize(
    "ref", ["refs/heads/other", "refs/heads/task/", "refs/heads/tasks/x", "refs/tags/v1", "HEAD"]
)
def test_other_refs_are_refused(ref: str) -> None:
    decision = only(decide([RefUpdate(ZERO, B, ref)], GOOD, FACTS))
    assert not decision.allowed
    assert decision.message == (
        f"ainarres gate: refused {ref}: the hub only holds refs/heads/main and "
        "refs/heads/task/<id>; push your work to refs/heads/task/<id>"
    )


def test_one_decision_per_update_in_order() -> None:
    updates = [RefUpdate(ZERO, B, "refs/heads/task/x"), RefUpdate(A, B, MAIN)]
    assert [d.allowed for d in decide(updates, None, FACTS)] == [True, False]
