"""Migrations: once each, checksummed, serialised by a lock no family can take."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from boardenv import Cluster, must
from psycopg.conninfo import make_conninfo

from ainarres.board import migrate
from ainarres.board.db import open_connection
from ainarres.errors import AinarresError


@pytest.fixture
def empty_db(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    node: str = request.node.name
    name = "m_" + node.lower().replace("[", "_").replace("]", "")[:40]
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
        conn.execute(f"CREATE DATABASE {name}".encode())
    return name


def test_migrate_applies_each_file_once_with_checksums(cluster: Cluster, empty_db: str) -> None:
    with open_connection(cluster.conninfo(empty_db)) as conn:
        first = migrate.migrate(conn)
        second = migrate.migrate(conn)
        recorded = migrate.applied(conn)
    assert [m.name for m in first] == [m.name for m in migrate.load()]
    assert [m.name for m in first][:2] == ["0001_board.sql", "0002_verbs.sql"]
    assert second == []
    assert {v: c for v, (_, c) in recorded.items()} == {m.version: m.checksum for m in first}


def test_migrate_refuses_when_an_applied_file_changed(
    cluster: Cluster, empty_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.migrations_dir(), folder)
    with open_connection(cluster.conninfo(empty_db)) as conn:
        migrate.migrate(conn, folder)
        (folder / "0002_verbs.sql").write_text((folder / "0002_verbs.sql").read_text() + "\n-- x\n")
        (folder / "0999_more.sql").write_text("CREATE TABLE ainarres.more (x int);")
        with pytest.raises(AinarresError, match="0002_verbs.sql changed after it was applied"):
            migrate.migrate(conn, folder)
        tables = conn.execute(b"SELECT to_regclass('ainarres.more') AS t").fetchone()
    assert tables == {"t": None}  # the refusal came before anything was applied


def test_migrate_failure_rolls_back_the_file_and_its_row(
    cluster: Cluster, empty_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.migrations_dir(), folder)
    (folder / "0999_broken.sql").write_text(
        "CREATE TABLE ainarres.half (x int);\nSELECT no_such_function();"
    )
    with open_connection(cluster.conninfo(empty_db)) as conn:
        with pytest.raises(AinarresError, match="0999_broken.sql failed and was rolled back"):
            migrate.migrate(conn, folder)
        assert conn.execute(b"SELECT to_regclass('ainarres.half') AS t").fetchone() == {"t": None}
        assert 999 not in migrate.applied(conn)


def test_migrate_two_processes_at_once_apply_once(cluster: Cluster, empty_db: str) -> None:
    url = make_conninfo(**cluster.conninfo(empty_db))
    code = (
        "import sys; from ainarres.board import migrate; from ainarres.board.db import "
        "open_connection; from psycopg.conninfo import conninfo_to_dict;"
        "c = open_connection({k: str(v) for k, v in conninfo_to_dict(sys.argv[1]).items()});"
        "print(len(migrate.migrate(c)))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [e for _, e in outs]
    counts = sorted(int(o) for o, _ in outs)
    assert counts == [0, 0, 0, len(migrate.load())]


def test_migrate_0007_limits_families_and_the_gate_made_before_it(
    cluster: Cluster, empty_db: str, tmp_path: Path
) -> None:
    before = tmp_path / "up-to-0006"
    before.mkdir()
    for mig in migrate.load():
        if mig.version <= 6:
            (before / mig.name).write_text(mig.sql)
    with open_connection(cluster.conninfo(empty_db)) as conn:
        assert len(migrate.migrate(conn, before)) == 6
        # as a client of that time would: the four-argument family_add
        old = conn.execute(b"SELECT ainarres.family_add('old+family', 'old', 'family', 'pw') AS r")
        assert must(old.fetchone())["r"]["outcome"] == "ok"
        gate = conn.execute(b"SELECT ainarres.gate_login('pw') AS r").fetchone()
        assert gate is not None
        gate_role = gate["r"]["family"]["db_role"]
        role_of = "SELECT db_role FROM ainarres.families WHERE name = 'old+family'"
        family_role = must(conn.execute(role_of.encode()).fetchone())["db_role"]
        limits = (
            "SELECT rolconnlimit, rolconfig, "
            "pg_has_role(%s, 'pg_use_reserved_connections', 'USAGE') AS reserved "
            "FROM pg_roles WHERE rolname = %s"
        )
        assert conn.execute(limits.encode(), (gate_role, family_role)).fetchone() == {
            "rolconnlimit": -1,
            "rolconfig": None,
            "reserved": False,
        }

        assert [m.name for m in migrate.migrate(conn)][0] == "0007_hardening.sql"
        row = conn.execute(limits.encode(), (gate_role, family_role)).fetchone()
        assert row is not None and row["rolconnlimit"] == 16 and row["reserved"] is True
        assert sorted(row["rolconfig"]) == [
            "idle_in_transaction_session_timeout=60s",
            "statement_timeout=60s",
            "transaction_timeout=5min",
        ]


def test_migrate_serialises_on_a_private_table_no_family_may_use(
    cluster: Cluster, empty_db: str
) -> None:
    with open_connection(cluster.conninfo(empty_db)) as conn:
        migrate.migrate(conn)
        found = conn.execute(
            b"SELECT has_schema_privilege(s.value, n.oid, 'USAGE') AS agents_may_use, "
            b"EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a WHERE a.grantee = 0) AS public_may "
            b"FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            b"JOIN ainarres.settings s ON s.key = 'agent_group' "
            b"WHERE n.nspname = 'ainarres_private' AND c.relname = 'migrate_lock'"
        ).fetchall()
    assert len(found) == 1
    assert found[0]["agents_may_use"] is False
    assert found[0]["public_may"] is False


def test_migrate_a_stuck_other_run_is_named(
    cluster: Cluster, empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_connection(cluster.conninfo(empty_db)) as conn:
        migrate.migrate(conn)
    monkeypatch.setattr(migrate, "GUARD_TIMEOUT", "1s")
    with (
        open_connection(cluster.conninfo(empty_db), autocommit=False) as other,
        open_connection(cluster.conninfo(empty_db)) as conn,
    ):
        other.execute(b"LOCK TABLE ainarres_private.migrate_lock IN EXCLUSIVE MODE")
        pid = other.info.backend_pid
        with pytest.raises(AinarresError) as err:
            migrate.migrate(conn)
        other.rollback()
        assert migrate.migrate(conn) == []
    message = err.value.message
    assert message.startswith("another `ainarres db migrate` has run for over 1s: ")
    assert f"held by pid {pid} (role ainarres, idle in transaction since " in message
    assert f"SELECT pg_terminate_backend({pid})" in message and "\n" not in message
