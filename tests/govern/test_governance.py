"""Governance: records become permissions. The board demotes; only a person restores."""

from __future__ import annotations

import psycopg
import pytest
from boardenv import BoardEnv, must, rows
from psycopg.conninfo import make_conninfo
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, INTEGRATOR_PASSPHRASE, REVIEWER, Project

from ainarres import project
from ainarres.board import admin
from ainarres.board.db import family_conninfo
from ainarres.integrate.run import Options, integrate

SECOND_REVIEWER = "claude-code+sonnet"
BROKEN = "def word_count(text):\n    return -1\n"


def _second_reviewer(proj: Project) -> None:
    with proj.board.operator() as conn:
        assert admin.add_family(
            conn, proj.board.settings, SECOND_REVIEWER, "claude-code", "sonnet"
        ).ok
        assert admin.grant(conn, SECOND_REVIEWER, "reviewer").ok
    project.ensure_family_key(proj.board.settings, SECOND_REVIEWER)


def _bad_change_approved_by(proj: Project, reviewer: str, name: str) -> None:
    """A change that breaks sandbox-repo's tests, approved by `reviewer`, then integrated."""
    task = must(proj.agent(DESIGNER).create_task(f"break {name}").task)
    impl = proj.agent(IMPLEMENTER)
    claim = impl.claim_next()
    head = proj.commit_on(task.branch, "sandbox/stats.py", BROKEN + f"# {name}\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claim.epoch).ok
    assert impl.advance(task.id, must(claim.epoch), head).ok
    rev = proj.agent(reviewer, f"{reviewer}-a")
    review = rev.claim_next()
    assert review.ok and must(review.task).id == task.id, review.message
    assert rev.advance(task.id, must(review.epoch)).ok
    results = integrate(
        proj.board.settings, Options(family=INTEGRATOR, passphrase=INTEGRATOR_PASSPHRASE)
    )
    assert [r.outcome for r in results] == ["returned"]
    # Out of the way: the returned task waits for a person, not in the queue.
    again = impl.claim_next()
    assert (
        must(again.task).id == task.id
        and impl.block(task.id, must(again.epoch), "broken on purpose").ok
    )


def test_govern_reviewer_approving_failing_work_is_demoted_then_heals(proj: Project) -> None:
    _second_reviewer(proj)
    _bad_change_approved_by(proj, REVIEWER, "one")
    with proj.board.operator() as conn:
        assert rows(conn, "SELECT 1 FROM ainarres.denials") == []  # one is under the threshold
    _bad_change_approved_by(proj, REVIEWER, "two")
    with proj.board.operator() as conn:
        denial = rows(
            conn,
            "SELECT f.name, d.role, d.reason, d.created_by, "
            "d.expires_at > now() AS live FROM ainarres.denials d "
            "JOIN ainarres.families f ON f.id = d.family_id",
        )
        demoted = rows(conn, "SELECT data FROM ainarres.events WHERE kind = 'demoted'")
    assert denial == [
        {
            "name": REVIEWER,
            "role": "reviewer",
            "live": True,
            "reason": "policy reviewer-approves-failing: approvals_failed_checks = 2 >= 2",
            "created_by": "governance:reviewer-approves-failing",
        }
    ]
    assert demoted[0]["data"]["policy"] == "reviewer-approves-failing"
    assert demoted[0]["data"]["value"] == 2
    # A third change needs review: the demoted family cannot take it, its peer can.
    task = must(proj.agent(DESIGNER).create_task("fine").task)
    impl = proj.agent(IMPLEMENTER)
    claim = impl.claim_next()
    assert must(claim.task).id != task.id or impl.advance(task.id, must(claim.epoch), "a" * 40).ok
    assert proj.agent(REVIEWER, "grok-b").claim_next("reviewer").outcome == "not_allowed"
    standing = proj.board.run("govern", "status").stdout
    assert f"denied: {REVIEWER} reviewer (heals in" in standing
    assert proj.board.expire_denials(REVIEWER) == 1  # its hour is up
    assert proj.agent(REVIEWER, "grok-c").claim_next("reviewer").outcome in ("ok", "empty")


def test_govern_a_family_cannot_lift_its_own_denial_or_edit_policies(board: BoardEnv) -> None:
    board.add_family("grok+grok-build", "reviewer")
    with board.operator() as conn:
        assert admin.deny(conn, "grok+grok-build", "reviewer", "test").ok
    info = family_conninfo(board.settings, "grok+grok-build")
    for statement in (
        "SELECT ainarres.lift_denial('grok+grok-build', 'reviewer', 'me')",
        "UPDATE ainarres.denials SET lifted_at = now()",
        "SELECT ainarres.set_policy('reviewer-approves-failing', 1000, NULL, NULL, false)",
        "UPDATE ainarres.policies SET enabled = false",
        "DELETE FROM ainarres.denials",
    ):
        with (
            psycopg.connect(make_conninfo(**info), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement.encode())
    with board.operator() as conn:
        assert rows(conn, "SELECT count(*) AS n FROM ainarres.denials WHERE lifted_at IS NULL") == [
            {"n": 1}
        ]
        assert rows(conn, "SELECT bool_and(enabled) AS e FROM ainarres.policies") == [{"e": True}]


def test_govern_permanent_ban_survives_expiry_until_a_person_lifts_it(board: BoardEnv) -> None:
    board.add_family("grok+grok-build", "reviewer")
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    res = board.run(
        "govern",
        "ban",
        "grok+grok-build",
        "reviewer",
        "--permanent",
        "--reason",
        "approved malware",
    )
    assert res.returncode == 0, res.stderr
    with board.operator() as conn:  # and a timed denial that has already run out
        conn.execute(
            b"INSERT INTO ainarres.denials (family_id, role, reason, expires_at, "
            b"created_by) SELECT id, 'reviewer', 'old', now() - interval '1 s', 'x' "
            b"FROM ainarres.families WHERE name = 'grok+grok-build'"
        )
    task = must(board.agent("claude-code+opus").create_task("t").task)
    impl = board.agent("opencode+qwen")
    impl.advance(task.id, must(impl.claim_next().epoch), "a" * 40)
    grok = board.agent("grok+grok-build")
    assert grok.claim_next().outcome == "not_allowed"
    assert (
        board.run(
            "govern", "lift", "grok+grok-build", "reviewer", "--reason", "reviewed the case"
        ).returncode
        == 0
    )
    assert must(grok.claim_next().task).id == task.id


def test_govern_implementer_returned_in_a_row_is_demoted(board: BoardEnv) -> None:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    board.add_family("grok+grok-build", "reviewer")
    designer, impl = board.agent("claude-code+opus"), board.agent("opencode+qwen")
    rev = board.agent("grok+grok-build")
    for i in range(3):
        task = must(designer.create_task(f"t{i}").task)
        claim = impl.claim_next()
        assert must(claim.task).id == task.id, claim.message
        impl.advance(task.id, must(claim.epoch), "a" * 40)
        review = rev.claim_next()
        assert rev.return_task(task.id, must(review.epoch), "not good enough").ok
        again = impl.claim_next()
        if again.outcome != "ok":
            break  # the third return tripped the policy: no more claims
        impl.block(task.id, must(again.epoch), "set aside for the test")
    assert impl.claim_next().outcome == "not_allowed"
    with board.operator() as conn:
        reasons = [r["reason"] for r in rows(conn, "SELECT reason FROM ainarres.denials")]
    assert reasons == ["policy implementer-returned-in-a-row: returned_in_a_row = 3 >= 3"]


def test_govern_demoting_the_only_integrator_halts_integration_loudly(proj: Project) -> None:
    with proj.board.operator() as conn:
        assert admin.deny(conn, INTEGRATOR, "integrator", "demoted").ok
    board = proj.board.run("board").stdout
    assert "INTEGRATION HALTED: no family holds an active integrator role" in board
    report = proj.board.run("report").stdout
    assert "INTEGRATION HALTED" in report
    res = proj.board.run("integrate", "--family", INTEGRATOR)
    assert res.returncode == 1 and "holds no active integrator role" in res.stderr
