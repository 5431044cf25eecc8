"""Rules the schema states once (migrations/0011_house.sql): git object ids have one type,
the event log takes only the kinds the verbs write, and the grant helper is the owner's.

That every kind a verb writes passes the check is also proved by the rest of the suite,
which runs every verb against it; the test below reads the migrations for the same list.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from boardenv import REPO_ROOT, BoardEnv, rows
from psycopg.conninfo import make_conninfo

from ainarres.board.db import family_conninfo

FAMILY = "opencode+qwen"
FAMILY_ADD = "ainarres.family_add(text, text, text, text)"


def _family_conn(board: BoardEnv) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        make_conninfo(**family_conninfo(board.settings, FAMILY)), autocommit=True
    )


def _group(board: BoardEnv) -> str:
    with board.operator() as conn:
        return str(
            rows(conn, "SELECT value FROM ainarres.settings WHERE key = 'agent_group'")[0]["value"]
        )


def _public_may_execute(board: BoardEnv, routine: str) -> bool:
    """From the routine's ACL (NULL means the default, which lets PUBLIC execute)."""
    with board.operator() as conn:
        return bool(
            rows(
                conn,
                "SELECT EXISTS (SELECT 1 FROM pg_proc p, "
                "aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a "
                "WHERE p.oid = %s::regprocedure AND a.grantee = 0) AS public",
                routine,
            )[0]["public"]
        )


# --- git object ids ----------------------------------------------------------------------


def test_git_oid_is_the_type_of_every_commit_column(board: BoardEnv) -> None:
    with board.operator() as conn:
        typed = rows(
            conn,
            "SELECT table_name, column_name, domain_name FROM information_schema.columns "
            "WHERE table_schema = 'ainarres' AND (column_name LIKE '%%commit%%' "
            "OR domain_name = 'git_oid') ORDER BY 1, 2",
        )
        regex_checks = rows(
            conn,
            "SELECT conname FROM pg_constraint WHERE connamespace = 'ainarres'::regnamespace "
            "AND pg_get_constraintdef(oid) LIKE '%%{40}%%' ORDER BY 1",
        )
    assert [(r["table_name"], r["column_name"], r["domain_name"]) for r in typed] == [
        ("annotations", "commit", "git_oid"),
        ("reviews", "commit", "git_oid"),
        ("tasks", "base_commit", "git_oid"),
        ("tasks", "head_commit", "git_oid"),
    ]
    assert regex_checks == [{"conname": "git_oid_hex"}]  # the one place the rule is written


@pytest.mark.parametrize(
    "bad",
    ["A" * 40, "a" * 39, "a" * 41, "a" * 63, "g" * 40, "", "a" * 40 + "\n", "HEAD"],
)
def test_git_oid_refuses_a_bad_object_id(board: BoardEnv, bad: str) -> None:
    task = board.brief().id
    before = board.snapshot()
    with (
        board.operator() as conn,
        pytest.raises(
            psycopg.errors.CheckViolation,
            match='domain git_oid violates check constraint "git_oid_hex"',
        ),
    ):
        conn.execute(b"UPDATE ainarres.tasks SET head_commit = %s WHERE id = %s", (bad, task))
    assert board.snapshot() == before


def test_git_oid_takes_sha1_and_sha256_ids_and_none(board: BoardEnv) -> None:
    task = board.brief().id
    with board.operator() as conn:
        for oid in ("0123456789abcdef0123456789abcdef01234567", "0123456789abcdef" * 4, None):
            conn.execute(b"UPDATE ainarres.tasks SET base_commit = %s WHERE id = %s", (oid, task))
            got = rows(conn, "SELECT base_commit FROM ainarres.tasks WHERE id = %s", task)
            assert got == [{"base_commit": oid}]


def test_git_oid_a_verb_still_answers_a_bad_id_with_its_own_refusal(board: BoardEnv) -> None:
    board.add_family(FAMILY, "implementer")
    board.brief()
    with board.operator() as conn:  # the brief waits for a designer; let the implementer in
        conn.execute(
            b"UPDATE ainarres.tasks SET stage_id = (SELECT id FROM ainarres.stages "
            b"WHERE name = 'implement')"
        )
    agent = board.agent(FAMILY)
    claim = agent.claim_next()
    assert claim.ok and claim.task is not None and claim.epoch is not None, claim.message
    before = board.snapshot()
    out = agent.set_base(claim.task.id, claim.epoch, "B" * 40)
    assert out.outcome == "invalid" and "object id" in out.message
    assert board.snapshot() == before


# --- event kinds -------------------------------------------------------------------------


def _kinds_logged_by_the_migrations() -> set[str]:
    """Every kind passed to `_log`, which is the only writer of the event log: fails if a
    call passes its kind in any other form than a literal, or something else inserts."""
    text = "\n".join(p.read_text() for p in sorted((REPO_ROOT / "migrations").glob("*.sql")))
    calls = re.findall(r"(?<!FUNCTION )(?<![\w.])_log\(\s*([^,]*),", text)
    literal = [re.fullmatch(r"'([a-z_]+)'", c) for c in calls]
    assert calls and all(literal), [c for c, m in zip(calls, literal, strict=True) if not m]
    inserts = re.findall(r"INSERT INTO (?:ainarres\.)?events\b", text, re.IGNORECASE)
    assert len(inserts) == 1  # _log's own body
    return {m.group(1) for m in literal if m}


def test_events_kind_check_lists_exactly_the_kinds_the_verbs_log(board: BoardEnv) -> None:
    with board.operator() as conn:
        check = rows(
            conn,
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'ainarres.events'::regclass AND conname = 'events_kind_check'",
        )
    listed = set(re.findall(r"'([a-z_]+)'::text", check[0]["def"]))
    assert listed == _kinds_logged_by_the_migrations()
    assert len(listed) == 26


def test_events_kind_outside_the_list_is_refused(board: BoardEnv) -> None:
    board.brief()
    before = board.snapshot()
    with (
        board.operator() as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="events_kind_check"),
    ):
        conn.execute(b"SELECT ainarres._log('noted', NULL, NULL, NULL, NULL, NULL, NULL)")
    assert board.snapshot() == before
    with board.operator() as conn:  # a kind on the list goes in
        conn.execute(b"SELECT ainarres._log('note', NULL, NULL, NULL, NULL, NULL, NULL)")
        assert rows(conn, "SELECT kind FROM ainarres.events ORDER BY id DESC LIMIT 1") == [
            {"kind": "note"}
        ]


# --- the grant helper --------------------------------------------------------------------


def test_grant_helper_grants_agents_and_leaves_operator_verbs_to_the_owner(
    board: BoardEnv,
) -> None:
    board.add_family(FAMILY, "implementer")
    with board.operator() as conn:
        for name in ("house_verb", "house_operator_verb"):
            conn.execute(
                f"CREATE FUNCTION ainarres.{name}() RETURNS int LANGUAGE sql AS 'SELECT 1'".encode()
            )
        conn.execute(b"CALL ainarres._grant_execute('agents', 'ainarres.house_verb()')")
        conn.execute(b"CALL ainarres._grant_execute('operator', 'ainarres.house_operator_verb()')")
    assert not _public_may_execute(board, "ainarres.house_verb()")
    assert not _public_may_execute(board, "ainarres.house_operator_verb()")
    with _family_conn(board) as conn:
        assert conn.execute(b"SELECT ainarres.house_verb()").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(b"SELECT ainarres.house_operator_verb()")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("CALL ainarres._grant_execute('everyone', 'ainarres._log(text, uuid, bigint, uuid, "
         "text, text, bigint, jsonb)')", "say agents or operator"),
        ("CALL ainarres._grant_execute('agents', 'pg_catalog.pg_terminate_backend(integer, "
         "bigint)')", "is not in the board's schema"),
        ("CALL ainarres._grant_execute('agents', 'ainarres.no_such_verb()')", "does not exist"),
    ],
)  # fmt: skip
def test_grant_helper_refuses_what_it_was_not_made_for(
    board: BoardEnv, call: str, error: str
) -> None:
    before = board.snapshot()
    with board.operator() as conn, pytest.raises(psycopg.Error, match=error):
        conn.execute(call.encode())
    assert board.snapshot() == before
    assert not _public_may_execute(
        board, "ainarres._log(text, uuid, bigint, uuid, text, text, bigint, jsonb)"
    )


def test_grant_helper_is_not_callable_by_a_family(board: BoardEnv) -> None:
    board.add_family(FAMILY, "implementer")
    group = _group(board)
    assert not _public_may_execute(board, "ainarres._grant_execute(text, regprocedure[])")
    before = board.snapshot()
    with (
        _family_conn(board) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="_grant_execute"),
    ):
        conn.execute(f"CALL ainarres._grant_execute('agents', '{FAMILY_ADD}')".encode())
    assert board.snapshot() == before
    with board.operator() as conn:
        may = rows(conn, "SELECT has_function_privilege(%s, %s, 'EXECUTE') AS x", group, FAMILY_ADD)
    assert may == [{"x": False}]


def test_grant_helper_grants_a_family_nothing_even_if_it_may_call_it(board: BoardEnv) -> None:
    """It runs with its caller's rights: a family that was wrongly let call it still may
    grant only what it could grant itself, which is nothing."""
    board.add_family(FAMILY, "implementer")
    with board.operator() as conn:
        role = rows(conn, "SELECT db_role FROM ainarres.families WHERE name = %s", FAMILY)[0]
        conn.execute(
            f"GRANT EXECUTE ON PROCEDURE ainarres._grant_execute(text, regprocedure[]) "
            f'TO "{role["db_role"]}"'.encode()
        )
    with (
        _family_conn(board) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="family_add"),
    ):
        conn.execute(f"CALL ainarres._grant_execute('agents', '{FAMILY_ADD}')".encode())
    with _family_conn(board) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(b"SELECT ainarres.family_add('evil+x', 'evil', 'x', 'pw')")
