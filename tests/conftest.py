"""Shared fixtures: an isolated environment, and a real PostgreSQL board per test.

One embedded cluster serves the whole session; a template database is migrated once and
each test gets a fresh database copied from it, so tests are independent and fast.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from ainarres.board import admin, migrate
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import DbCredential

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "ainarres_template"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No leaked PG*, AINARRES_* or git settings from the machine running the tests."""
    for key in list(os.environ):
        if key.startswith(("PG", "AINARRES_")):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@dataclass(frozen=True)
class Cluster:
    server: EmbeddedServer
    operator: DbCredential

    def conninfo(self, dbname: str) -> dict[str, str]:
        return self.server.conninfo(self.operator, dbname)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One real embedded PostgreSQL for the session, with a migrated template database."""
    state = tmp_path_factory.mktemp("cluster") / ".ainarres"
    server = EmbeddedServer(state)
    cred = server.ensure_running()
    c = Cluster(server, cred)
    with open_connection(c.conninfo("postgres")) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}".encode())
    with open_connection(c.conninfo(TEMPLATE)) as conn:
        migrate.migrate(conn)
    yield c
    server.stop()


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

    def add_family(self, name: str, *roles: str) -> None:
        tool, _, model = name.partition("+")
        with self.operator() as conn:
            out = admin.add_family(conn, self.settings, name, tool, model or "m")
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

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every board table's rows, to prove a refusal changed nothing."""
        tables = [
            "families",
            "agents",
            "grants",
            "denials",
            "stages",
            "transitions",
            "tasks",
            "task_deps",
            "events",
        ]
        out: dict[str, list[tuple[Any, ...]]] = {}
        with psycopg.connect(make_conninfo(**self.cluster.conninfo(self.dbname))) as conn:
            for t in tables:
                rows = conn.execute(f"SELECT * FROM ainarres.{t} ORDER BY 1".encode()).fetchall()
                out[t] = [tuple(r) for r in rows]
        return out

    def run(
        self,
        *args: str,
        family: str | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The real `ainarres` CLI in a subprocess against this board."""
        full_env = {
            **os.environ,
            "AINARRES_HOME": str(self.settings.state_dir),
            "AINARRES_DATABASE_URL": self.url,
            **(env or {}),
        }
        if family:
            full_env["AINARRES_FAMILY"] = family
        return subprocess.run(
            [sys.executable, "-m", "ainarres", *args],
            capture_output=True,
            text=True,
            env=full_env,
            input=stdin,
            timeout=120,
        )


@pytest.fixture
def board(cluster: Cluster, tmp_path: Path) -> Iterator[BoardEnv]:
    dbname = f"t_{os.getpid()}_{next(_counter)}"
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"CREATE DATABASE {dbname} TEMPLATE {TEMPLATE}".encode())
    url = make_conninfo(**cluster.conninfo(dbname))
    env = BoardEnv(cluster, dbname, Settings(tmp_path / ".ainarres", url))
    yield env
    for conn in env.opened:
        conn.close()
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)".encode())


def rows(conn: Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Plain query helper for assertions."""
    return list(conn.execute(sql.encode(), params).fetchall())


__all__ = ["BoardEnv", "Cluster", "rows", "dict_row"]
