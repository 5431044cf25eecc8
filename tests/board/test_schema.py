"""schema.sql is what the migrations make: a schema a person can read in one file, kept
true by this test (procrastinate keeps one the same way).

Applying every migration to an empty database must dump to exactly schema.sql, functions
and privileges included. After a new migration, write the file again with
`AINARRES_WRITE_SCHEMA=1 .venv/bin/pytest tests/board/test_schema.py`, and read its diff:
it is the change the migration makes.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from boardenv import REPO_ROOT, Cluster

from ainarres.board import migrate
from ainarres.board.db import open_connection
from ainarres.board.embedded import _bin_dir

SCHEMA = REPO_ROOT / "schema.sql"
# Read at import: the tests' own fixture clears AINARRES_* variables before each test.
WRITE = bool(os.environ.get("AINARRES_WRITE_SCHEMA"))
HEADER = (
    "-- The board's schema as the migrations make it (generated; do not edit: see\n"
    "-- tests/board/test_schema.py). The families' group role carries a digest of the\n"
    "-- database's name; here it reads <agents>.\n"
)


def _dump(cluster: Cluster, dbname: str) -> str:
    info = cluster.conninfo(dbname)
    done = subprocess.run(
        [str(_bin_dir() / "pg_dump"), "--schema-only", "--schema=ainarres*", "--no-owner",
         "-h", info["host"], "-p", info["port"], "-U", info["user"], dbname],
        env={**os.environ, "PGPASSWORD": info["password"]},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    with open_connection(info) as conn:
        row = conn.execute(
            b"SELECT value FROM ainarres.settings WHERE key = 'agent_group'"
        ).fetchone()
        assert row is not None
    text = done.stdout.replace(row["value"], "<agents>")
    lines = [
        line
        for line in text.splitlines()
        # pg_dump's version lines and its per-dump \restrict key differ run to run
        if not re.match(r"^(\\(un)?restrict |-- Dumped (from|by) )", line)
    ]
    return HEADER + "\n".join(lines).strip() + "\n"


def test_the_migrations_make_exactly_schema_sql(cluster: Cluster) -> None:
    dbname = "schema_check"
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname}".encode())
        conn.execute(f"CREATE DATABASE {dbname}".encode())
    try:
        with open_connection(cluster.conninfo(dbname)) as conn:
            migrate.migrate(conn)
        made = _dump(cluster, dbname)
    finally:
        with open_connection(cluster.conninfo("postgres")) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)".encode())
    if WRITE:
        SCHEMA.write_text(made)
    assert SCHEMA.exists(), "schema.sql is missing: write it with AINARRES_WRITE_SCHEMA=1"
    assert made == SCHEMA.read_text(), (
        "the migrations no longer make schema.sql: write it again with "
        "AINARRES_WRITE_SCHEMA=1 and read the diff"
    )


def test_schema_sql_holds_every_verb(cluster: Cluster) -> None:
    text = SCHEMA.read_text()
    for verb in ("claim_next", "advance", "return_task", "integrate_begin", "family_retire"):
        assert re.search(rf"CREATE FUNCTION ainarres\.{verb}\(", text), verb
    del cluster
    assert Path(SCHEMA).stat().st_size > 10_000
