"""Denial of service by a hostile family, tried as the family's own database role.

A family may open transactions, call its verbs inside them and keep them open, take
advisory locks, and open connections in a loop. None of it may freeze another family's
task, hang `db migrate`, or leave no connection for the others, the gate or the person.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from boardenv import BoardEnv, must, rows
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ainarres.board import migrate
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.errors import AinarresError
from ainarres.models import Outcome

HEAD = "a" * 40
OLD_ADVISORY_KEY = 0x41494E4152  # the key `db migrate` used to serialise on

HOSTILE_CALLS: dict[str, Callable[[Agent, UUID, int], Outcome]] = {
    "note": lambda a, t, e: a.note(t, e, "mine now"),
    "heartbeat": lambda a, t, e: a.heartbeat(t, e),
    "advance": lambda a, t, e: a.advance(t, e, HEAD),
    "release": lambda a, t, e: a.release(t, e),
    "block": lambda a, t, e: a.block(t, e, "frozen"),
    "set_base": lambda a, t, e: a.set_base(t, e, HEAD),
    "annotate": lambda a, t, e: a.annotate(t, e, "f.py", 1, "new", "nit", "x"),
    "return_task": lambda a, t, e: a.return_task(t, e, "back you go"),
}


@pytest.fixture
def wired(board: BoardEnv) -> BoardEnv:
    board.add_family("claude-code+opus", "designer")
    board.add_family("victim+m", "implementer")
    board.add_family("bystander+m", "implementer")
    board.add_family("hostile+m", "implementer", "reviewer")
    return board


def _family(board: BoardEnv, family: str, *, autocommit: bool = True) -> Connection:
    conn = open_connection(family_conninfo(board.settings, family), autocommit=autocommit)
    board.opened.append(conn)
    return conn


def _quick(conn: Connection) -> None:
    """Bound every statement: a blocked call fails the test instead of hanging it."""
    conn.execute(b"SET statement_timeout = '2s'")


def _timed(fn: Callable[[], Outcome]) -> tuple[Outcome, float]:
    start = time.monotonic()
    out = fn()
    return out, time.monotonic() - start


@pytest.mark.parametrize("verb", sorted(HOSTILE_CALLS))
def test_dos_a_foreign_open_transaction_freezes_no_task(wired: BoardEnv, verb: str) -> None:
    designer = wired.agent("claude-code+opus")
    held_id = must(designer.create_task("held by the victim").task).id
    victim = wired.agent("victim+m")
    claim = victim.claim_next()
    assert claim.ok and claim.task is not None and claim.task.id == held_id
    epoch = claim.epoch
    assert epoch is not None
    free_id = must(designer.create_task("waiting for anyone").task).id

    # The hostile family registers, then calls the verb on both tasks inside one
    # transaction that it keeps open.
    hostile_conn = _family(wired, "hostile+m")
    hostile = Agent.start(hostile_conn, "h1")
    hostile_conn.autocommit = False
    for task in (held_id, free_id):
        out = HOSTILE_CALLS[verb](hostile, task, epoch)
        assert out.outcome == "not_allowed", out.message
    assert hostile_conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS

    _quick(victim.conn)
    beat, beat_s = _timed(lambda: victim.heartbeat(held_id, epoch))
    assert beat.ok, beat.message
    other = wired.agent("bystander+m")
    _quick(other.conn)
    got, claim_s = _timed(other.claim_next)
    assert got.ok and got.task is not None and got.task.id == free_id, got.message
    done, advance_s = _timed(lambda: victim.advance(held_id, epoch, HEAD))
    assert done.ok, done.message
    assert max(beat_s, claim_s, advance_s) < 1.0, (beat_s, claim_s, advance_s)
    hostile_conn.rollback()


def test_dos_a_lock_wait_ends_in_seconds_saying_retry(wired: BoardEnv) -> None:
    """The one row lock a family can still keep is on a task it holds itself (here: from a
    second session of the same agent). Its other session gives up after 5 s, not never."""
    wired.agent("claude-code+opus").create_task("t")
    victim = wired.agent("victim+m")
    claim = victim.claim_next()
    assert claim.ok and claim.task is not None and claim.epoch is not None
    task, epoch = claim.task.id, claim.epoch
    victim.conn.execute(b"SET statement_timeout = '10s'")
    twin_conn = _family(wired, "victim+m", autocommit=False)
    twin = Agent(twin_conn, victim.id, victim.name, victim.family)
    assert twin.heartbeat(task, epoch).ok  # the twin now holds the row lock, uncommitted
    start = time.monotonic()
    with pytest.raises(AinarresError, match=r"^heartbeat\b.*\bbusy\b.*(try again|retry)") as err:
        victim.heartbeat(task, epoch)
    waited = time.monotonic() - start
    assert 4.5 < waited < 8, waited
    assert "\n" not in err.value.message
    twin_conn.rollback()
    assert victim.heartbeat(task, epoch).ok


def test_dos_every_security_definer_function_bounds_its_lock_waits(board: BoardEnv) -> None:
    with board.operator() as conn:
        found = rows(
            conn,
            "SELECT p.oid::regprocedure::text AS fn, p.proconfig FROM pg_proc p "
            "WHERE p.pronamespace = 'ainarres'::regnamespace AND p.prosecdef",
        )
    assert len(found) >= 20
    assert [f["fn"] for f in found if "lock_timeout=5s" not in (f["proconfig"] or [])] == []


# ---------------------------------------------------------------------------------------
# Migrations


@pytest.fixture
def pending_folder(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    def make(sql: str) -> Path:
        folder = tmp_path / "migrations"
        shutil.copytree(migrate.migrations_dir(), folder, dirs_exist_ok=True)
        (folder / "0999_test_pending.sql").write_text(sql)
        return folder

    yield make


def test_dos_no_family_lock_makes_migrate_wait(
    wired: BoardEnv, pending_folder: Callable[[str], Path]
) -> None:
    hostile = _family(wired, "hostile+m", autocommit=False)
    # The key `db migrate` used to wait on, held for the session and the transaction.
    hostile.execute(b"SELECT pg_advisory_lock(%s)", (OLD_ADVISORY_KEY,))
    hostile.execute(b"SELECT pg_advisory_xact_lock(%s)", (OLD_ADVISORY_KEY,))

    # The command, with nothing to apply, does not wait.
    env = {
        **os.environ,
        "AINARRES_HOME": str(wired.settings.state_dir),
        "AINARRES_DATABASE_URL": wired.url,
    }
    start = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "ainarres", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start < 10
    # Nor does a run with something to apply.
    folder = pending_folder("CREATE TABLE ainarres.test_pending (x int);")
    _migrates_at_once(wired, folder, ["0999_test_pending.sql"])

    # The lock migrate serialises on now is out of the family's reach, by name and by oid.
    for statement in (
        "LOCK TABLE ainarres_private.migrate_lock IN ACCESS SHARE MODE",
        "SELECT * FROM ainarres_private.migrate_lock FOR UPDATE",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema"):
            hostile.execute(statement.encode())
        hostile.rollback()
        hostile.execute(b"SELECT pg_advisory_xact_lock(%s)", (OLD_ADVISORY_KEY,))
    # By oid, through a function that opens the relation: refused too, since migration 0012
    # took the relation-size functions from PUBLIC (they counted private rows, ADR 0018).
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        hostile.execute(
            b"SELECT pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = 'migrate_lock'"
        )
    hostile.rollback()
    hostile.execute(b"SELECT pg_advisory_xact_lock(%s)", (OLD_ADVISORY_KEY,))
    assert hostile.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    (folder / "1000_test_more.sql").write_text("CREATE TABLE ainarres.test_more (x int);")
    _migrates_at_once(wired, folder, ["1000_test_more.sql"])
    hostile.rollback()


def _migrates_at_once(board: BoardEnv, folder: Path, expected: list[str]) -> None:
    with board.operator() as conn:
        conn.execute(b"SET statement_timeout = '8s'")
        start = time.monotonic()
        done = migrate.migrate(conn, folder)
        took = time.monotonic() - start
    assert [m.name for m in done] == expected
    assert took < 3, took


def test_dos_an_open_family_transaction_fails_migrate_in_seconds_naming_it(
    wired: BoardEnv, pending_folder: Callable[[str], Path]
) -> None:
    hostile = _family(wired, "hostile+m", autocommit=False)
    hostile.execute(b"SELECT count(*) FROM ainarres.tasks")  # AccessShareLock, kept open
    pid = hostile.info.backend_pid
    role = rows(hostile, "SELECT current_user AS r")[0]["r"]
    folder = pending_folder("ALTER TABLE ainarres.tasks ADD COLUMN test_pending integer;")
    with wired.operator() as conn:
        conn.execute(b"SET statement_timeout = '12s'")
        start = time.monotonic()
        with pytest.raises(AinarresError) as err:
            migrate.migrate(conn, folder)
        took = time.monotonic() - start
        message = err.value.message
        assert 4.5 < took < 9, took
        assert "\n" not in message
        for part in (
            "migration 0999_test_pending.sql waited 5s for a lock and was rolled back",
            "ainarres.tasks is held by",
            f"pid {pid} (role {role}, idle in transaction since ",
            "holds AccessShareLock",
            f"SELECT pg_terminate_backend({pid})",
            "run `ainarres db migrate` again",
        ):
            assert part in message, message
        assert 999 not in migrate.applied(conn)
        # Doing what the message says works.
        conn.execute(b"SELECT pg_terminate_backend(%s)", (pid,))
        assert [m.name for m in migrate.migrate(conn, folder)] == ["0999_test_pending.sql"]


# ---------------------------------------------------------------------------------------
# Connections


def _connect(info: dict[str, str]) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(**info), connect_timeout=5)


def _flood(info: dict[str, str], up_to: int) -> tuple[list[psycopg.Connection[Any]], str]:
    """Connect until refused; the connections made and why the next one was refused."""
    made: list[psycopg.Connection[Any]] = []
    for _ in range(up_to):
        try:
            made.append(_connect(info))
        except psycopg.OperationalError as exc:
            return made, str(exc)
    return made, ""


def _gate_login(board: BoardEnv) -> dict[str, str]:
    with board.operator() as conn:
        out = rows(conn, "SELECT ainarres.gate_login('gate-pw') AS r")[0]["r"]
    user = out["family"]["db_role"]
    return {**board.cluster.conninfo(board.dbname), "user": user, "password": "gate-pw"}


def test_dos_a_family_hits_its_connection_limit_and_others_still_connect(
    wired: BoardEnv,
) -> None:
    with wired.operator() as conn:
        setting = "SELECT value FROM ainarres.settings WHERE key = 'family_connection_limit'"
        limit = int(rows(conn, setting)[0]["value"])
    assert limit == 16
    own = _family(wired, "hostile+m")  # counts towards the limit too
    me = sql.Identifier(rows(own, "SELECT current_user AS u")[0]["u"])
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        own.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(me))
    made, refused = _flood(family_conninfo(wired.settings, "hostile+m"), 100)
    try:
        assert len(made) == limit - 1
        assert "too many connections for role" in refused
        for info in (
            family_conninfo(wired.settings, "victim+m"),
            _gate_login(wired),
            wired.cluster.conninfo(wired.dbname),
        ):
            _connect(info).close()
    finally:
        for c in made:
            c.close()


def test_dos_a_full_server_still_lets_the_gate_and_the_person_in(wired: BoardEnv) -> None:
    """As if many families together took every ordinary connection of the server."""
    gate = _gate_login(wired)
    with wired.operator() as conn:
        assert rows(conn, "SHOW reserved_connections")[0]["reserved_connections"] == "5"
        member = rows(
            conn,
            "SELECT pg_has_role(%s, 'pg_use_reserved_connections', 'USAGE') AS m",
            gate["user"],
        )
        assert member == [{"m": True}]
        hostile_role = rows(conn, "SELECT db_role FROM ainarres.families WHERE name = 'hostile+m'")[
            0
        ]["db_role"]
        conn.execute(f'ALTER ROLE "{hostile_role}" CONNECTION LIMIT -1'.encode())
    made, refused = _flood(family_conninfo(wired.settings, "hostile+m"), 250)
    try:
        assert "remaining connection slots are reserved" in refused, (len(made), refused)
        with pytest.raises(psycopg.OperationalError, match="remaining connection slots"):
            _connect(family_conninfo(wired.settings, "victim+m"))
        with _connect(gate) as g:
            assert g.execute(b"SELECT ainarres.gate_signer('victim+m') IS NOT NULL").fetchone()
        _connect(wired.cluster.conninfo(wired.dbname)).close()
    finally:
        for c in made:
            c.close()


def test_dos_a_family_session_starts_with_timeouts(wired: BoardEnv) -> None:
    conn = _family(wired, "hostile+m")
    got = rows(
        conn,
        "SELECT current_setting('statement_timeout')::interval = s.value::interval AS ok, "
        "       current_setting('statement_timeout') AS shown, s.key "
        "FROM ainarres.settings s WHERE s.key = 'family_statement_timeout' "
        "UNION ALL "
        "SELECT current_setting('idle_in_transaction_session_timeout')::interval "
        "       = s.value::interval, current_setting('idle_in_transaction_session_timeout'), "
        "       s.key "
        "FROM ainarres.settings s WHERE s.key = 'family_idle_in_transaction_timeout' "
        "UNION ALL "
        "SELECT current_setting('transaction_timeout')::interval = s.value::interval, "
        "       current_setting('transaction_timeout'), s.key "
        "FROM ainarres.settings s WHERE s.key = 'family_transaction_timeout'",
    )
    assert [(r["key"], r["shown"], r["ok"]) for r in got] == [
        ("family_statement_timeout", "1min", True),
        ("family_idle_in_transaction_timeout", "1min", True),
        ("family_transaction_timeout", "5min", True),
    ]
