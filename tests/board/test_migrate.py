"""Migrations: once each, checksummed, serialised by an advisory lock."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from boardenv import Cluster
from psycopg.conninfo import make_conninfo

from ainarres.board import migrate
from ainarres.board.db import open_connection
from ainarres.errors import AinarresError


@pytest.fixture
def empty_db(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "m_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
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
