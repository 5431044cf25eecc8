"""Shared test helpers (not fixtures): a board database per test, and assertions helpers.

Imported as `boardenv` because `conftest` is ambiguous once subfolders have their own.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from forkserver import run as forked
from psycopg.conninfo import make_conninfo

from ainarres.board import admin
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import DbCredential

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "ainarres_template"

T = TypeVar("T")


@dataclass(frozen=True)
class Cluster:
    server: EmbeddedServer
    operator: DbCredential

    def conninfo(self, dbname: str) -> dict[str, str]:
        return self.server.conninfo(self.operator, dbname)


@dataclass
class BoardEnv:
    """A fresh board database, its settings (state dir + URL), and helpers to wire families."""

    cluster: Cluster
    dbname: str
    settings: Settings
    opened: list[Connection] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    def operator(self) -> Connection:
        return open_connection(self.cluster.conninfo(self.dbname))

    def add_family(self, name: str, *roles: str, maker: str | None = None) -> None:
        """Add family tool+model with `roles`; a tool the board knows no maker for (a
        test's "victim+m") is its own maker."""
        tool, _, model = name.partition("+")
        with self.operator() as conn:
            out = admin.add_family(conn, self.settings, name, tool, model or "m", maker)
            if not out.ok and "no maker is known" in out.message:
                out = admin.add_family(conn, self.settings, name, tool, model or "m", tool)
            assert out.ok, out.message
            for role in roles:
                assert admin.grant(conn, name, role).ok

    def agent(self, family: str, name: str = "a1") -> Agent:
        """An agent on its own connection, made with the family's credential file."""
        conn = open_connection(family_conninfo(self.settings, family))
        self.opened.append(conn)
        return Agent.start(conn, name)

    def brief(self, title: str = "a brief") -> Any:
        with self.operator() as conn:
            out = admin.brief(conn, title)
            assert out.ok, out.message
            return out.task

    def expire_leases(self, task: Any = None, *, by: float | None = None) -> int:
        """Run out the leases of `task` (or of every held task) as the operator, instead of
        sleeping past them: the lease ends at this instant, so whatever happened before
        happened before it ran out, and the next verb finds it lapsed. With `by`, the end
        moves that many seconds earlier instead (time passing, which a lease may survive).
        Returns how many leases moved."""
        with self.operator() as conn:
            return conn.execute(
                b"UPDATE ainarres.tasks SET lease_expires_at = CASE WHEN %(by)s::float8 IS NULL "
                b"THEN now() ELSE lease_expires_at - make_interval(secs => %(by)s) END "
                b"WHERE holder_agent IS NOT NULL AND (%(task)s::uuid IS NULL OR id = %(task)s)",
                {"by": by, "task": task},
            ).rowcount

    def expire_denials(self, family: str | None = None) -> int:
        """End the timed denials of `family` (or everyone's) at this instant, as the operator,
        instead of sleeping until they heal; a permanent denial stays. Returns how many."""
        with self.operator() as conn:
            return conn.execute(
                b"UPDATE ainarres.denials d SET expires_at = now() FROM ainarres.families f "
                b"WHERE f.id = d.family_id AND (%(family)s::text IS NULL OR f.name = %(family)s) "
                b"AND d.lifted_at IS NULL AND d.expires_at > now()",
                {"family": family},
            ).rowcount

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of the board's schemas, read from the catalogue (a new table is seen
        without touching this), to prove a refusal changed nothing."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with psycopg.connect(make_conninfo(**self.cluster.conninfo(self.dbname))) as conn:
            tables = conn.execute(
                b"SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables "
                b"WHERE table_schema LIKE 'ainarres%%' AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
            for (table,) in tables:
                rows = conn.execute(f"SELECT * FROM {table}".encode()).fetchall()
                out[table.removeprefix("ainarres.")] = sorted(
                    (tuple(r) for r in rows), key=lambda r: tuple(map(str, r))
                )
        return out

    def run(
        self,
        *args: str,
        family: str | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The real `ainarres` CLI in a process of its own against this board (forked from an
        interpreter that has imported it: tests/forkserver.py)."""
        full_env = {
            **os.environ,
            "AINARRES_HOME": str(self.settings.state_dir),
            "AINARRES_DATABASE_URL": self.url,
            **(env or {}),
        }
        if family:
            full_env["AINARRES_FAMILY"] = family
        return forked(list(args), full_env, stdin, timeout=120)


def create_board_database(cluster: Cluster, dbname: str, template: str = TEMPLATE) -> str:
    """A new board database copied from `template` (CREATE DATABASE ... TEMPLATE), under the
    production grants; returns its URL (as the operator)."""
    with open_connection(cluster.conninfo("postgres")) as conn:
        # A file copy of these small databases beats logging every page (PostgreSQL 15+'s
        # default), now that the checkpoints it takes need no fsync (conftest's cluster).
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(f"CREATE DATABASE {dbname} TEMPLATE {template}{strategy}".encode())
    # A copy does not inherit its template's database ACL (CONNECT would be open to PUBLIC):
    # give it the production grants, so tests run under the same permissions.
    with open_connection(cluster.conninfo(dbname)) as conn:
        group = conn.execute(
            b"SELECT value FROM ainarres.settings WHERE key = 'agent_group'"
        ).fetchone()
        assert group is not None
        conn.execute(f"REVOKE ALL ON DATABASE {dbname} FROM PUBLIC".encode())
        conn.execute(f'GRANT CONNECT ON DATABASE {dbname} TO "{group["value"]}"'.encode())
    return make_conninfo(**cluster.conninfo(dbname))


def drop_board_database(cluster: Cluster, dbname: str) -> None:
    """Drop it, ending any session still connected to it."""
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)".encode())


def rows(conn: Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Plain query helper for assertions."""
    return list(conn.execute(sql.encode(), params).fetchall())


def must(value: T | None) -> T:
    """`value`, asserted present: an outcome's `task` or `epoch`, a row the test expects.

    Fails the test if it is None, and tells the type checker that it is not.
    """
    assert value is not None, "expected a value, got None"
    return value
