"""Enforcement by the database: run as the family roles themselves, with their own passwords."""

from __future__ import annotations

import psycopg
import pytest
from boardenv import BoardEnv, must, rows
from psycopg.conninfo import make_conninfo

from ainarres.board.db import family_conninfo


def _family_conn(board: BoardEnv, family: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        make_conninfo(**family_conninfo(board.settings, family)), autocommit=True
    )


@pytest.fixture
def wired(board: BoardEnv) -> BoardEnv:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    board.add_family("grok+grok-build", "reviewer")
    return board


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ainarres.tasks SET stage_id = stage_id",
        "UPDATE ainarres.tasks SET holder_agent = NULL",
        "DELETE FROM ainarres.tasks",
        "INSERT INTO ainarres.events (kind) VALUES ('forged')",
        "UPDATE ainarres.events SET kind = 'x'",
        "DELETE FROM ainarres.events",
        "INSERT INTO ainarres.grants (family_id, role, granted_by) SELECT id, 'integrator', 'me' "
        "FROM ainarres.families",
        "DELETE FROM ainarres.denials",
        "UPDATE ainarres.stages SET max_attempts = 1000",
        "SELECT ainarres.grant_role('opencode+qwen', 'integrator', NULL)",
        "SELECT ainarres.lift_denial('opencode+qwen', 'integrator', 'me')",
        "SELECT ainarres.brief('mine', '', 0, 'dev')",
        "SELECT ainarres.family_add('evil+x', 'evil', 'x', 'pw')",
        "SELECT ainarres._log('forged', NULL, NULL, NULL, NULL, NULL, NULL)",
        "CREATE TABLE ainarres.mine (x int)",
        "SET ROLE ainarres",
    ],
)
def test_permissions_family_role_cannot_write_tables_or_call_operator_verbs(
    wired: BoardEnv, statement: str
) -> None:
    wired.agent("opencode+qwen")  # registers an agent, so the family has a row there too
    before = wired.snapshot()
    with (
        _family_conn(wired, "opencode+qwen") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement.encode())
    assert wired.snapshot() == before


def test_permissions_family_can_read_the_board(wired: BoardEnv) -> None:
    wired.brief("visible")
    with _family_conn(wired, "opencode+qwen") as conn:
        titles = [r[0] for r in conn.execute(b"SELECT title FROM ainarres.tasks").fetchall()]
    assert titles == ["visible"]


def test_permissions_no_grant_no_claim_of_the_integration_step(wired: BoardEnv) -> None:
    designer = wired.agent("claude-code+opus")
    task = must(designer.create_task("t").task).id
    impl, rev = wired.agent("opencode+qwen"), wired.agent("grok+grok-build")
    impl.advance(task, must(impl.claim_next().epoch))
    rev.advance(task, must(rev.claim_next().epoch))  # now in integrate
    before = wired.snapshot()
    for agent in (impl, rev, designer):
        assert agent.claim_next().outcome == "empty"
    with wired.operator() as conn:
        stage = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s "
            "ON s.id = t.stage_id WHERE t.id = %s",
            task,
        )[0]["name"]
    assert stage == "integrate"
    # only the claims' agent last_seen moved; tasks and events did not
    after = wired.snapshot()
    assert after["tasks"] == before["tasks"] and after["events"] == before["events"]


def test_permissions_family_cannot_pass_another_familys_agent(wired: BoardEnv) -> None:
    designer = wired.agent("claude-code+opus")
    impl = wired.agent("opencode+qwen")
    # The implementer's connection presents the designer's agent id: the role decides.
    impl.id, real = designer.id, impl.id
    out = impl.create_task("smuggled")
    assert out.outcome == "not_allowed" and "is not an agent of family opencode+qwen" in out.message
    impl.id = real
    assert impl.create_task("smuggled").outcome == "not_allowed"


def test_permissions_create_needs_the_designer_grant(wired: BoardEnv) -> None:
    before = wired.snapshot()
    for family in ("opencode+qwen", "grok+grok-build"):
        out = wired.agent(family).create_task("invented work")
        assert out.outcome == "not_allowed"
        assert "needs the designer role" in out.message
    after = wired.snapshot()
    assert after["tasks"] == before["tasks"] == [] and after["events"] == before["events"]


def test_permissions_denial_and_expiry_take_effect_at_once(wired: BoardEnv) -> None:
    from datetime import UTC, datetime, timedelta

    from ainarres.board import admin

    designer = wired.agent("claude-code+opus")
    designer.create_task("t")
    impl = wired.agent("opencode+qwen")
    with wired.operator() as conn:
        assert admin.deny(conn, "opencode+qwen", "implementer", "sloppy").ok
    assert impl.claim_next().outcome == "not_allowed"
    with wired.operator() as conn:
        assert admin.lift(conn, "opencode+qwen", "implementer", "reviewed the case").ok
        conn.execute(b"UPDATE ainarres.grants SET expires_at = now() - interval '1 second'")
    assert impl.claim_next().outcome == "not_allowed"
    with wired.operator() as conn:
        admin.grant(conn, "opencode+qwen", "implementer", datetime.now(UTC) + timedelta(hours=1))
    assert impl.claim_next().ok


def test_permissions_operator_cannot_rewrite_the_event_log(wired: BoardEnv) -> None:
    wired.brief("b")
    with wired.operator() as conn:
        for statement in (
            b"UPDATE ainarres.events SET kind = 'x'",
            b"DELETE FROM ainarres.events",
            b"TRUNCATE ainarres.events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)


def test_permissions_passwordless_and_wrong_password_are_refused(wired: BoardEnv) -> None:
    info = family_conninfo(wired.settings, "opencode+qwen")
    for password in ("", "wrong"):
        bad = {**info, "password": password}
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(make_conninfo(**bad)).close()


def test_permissions_family_reads_through_the_cli(wired: BoardEnv) -> None:
    wired.brief("visible to families")
    for args in (["task", "list", "--json"], ["board", "--json"], ["log", "--json"]):
        res = wired.run(*args, family="opencode+qwen")
        assert res.returncode == 0, res.stderr
    shown = wired.run("task", "list", family="grok+grok-build")
    assert "visible to families" in shown.stdout
