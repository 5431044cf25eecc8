"""Shared fixtures: an isolated environment, and a real PostgreSQL board per test.

One embedded cluster serves the whole session; a template database is migrated once and
each test gets a fresh database copied from it, so tests are independent and fast.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from boardenv import TEMPLATE, BoardEnv, Cluster
from psycopg.conninfo import make_conninfo
from scenario import INTEGRATOR_PASSPHRASE, Project, make_project

from ainarres.board import migrate
from ainarres.board.db import open_connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.config import Settings

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


@pytest.fixture
def board(cluster: Cluster, tmp_path: Path) -> Iterator[BoardEnv]:
    dbname = f"t_{os.getpid()}_{next(_counter)}"
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"CREATE DATABASE {dbname} TEMPLATE {TEMPLATE}".encode())
    # A copy does not inherit its template's database ACL (CONNECT would be open to PUBLIC):
    # give it the production grants, so tests run under the same permissions.
    with open_connection(cluster.conninfo(dbname)) as conn:
        group = conn.execute(
            b"SELECT value FROM ainarres.settings WHERE key = 'agent_group'"
        ).fetchone()
        assert group is not None
        conn.execute(f"REVOKE ALL ON DATABASE {dbname} FROM PUBLIC".encode())
        conn.execute(f'GRANT CONNECT ON DATABASE {dbname} TO "{group["value"]}"'.encode())
    url = make_conninfo(**cluster.conninfo(dbname))
    env = BoardEnv(cluster, dbname, Settings(tmp_path / ".ainarres", url))
    yield env
    for conn in env.opened:
        conn.close()
    with open_connection(cluster.conninfo("postgres")) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)".encode())


@pytest.fixture
def proj(board: BoardEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A board with five families and keys, a hub bound to it, and a clone of the hub.

    The integrator's key is passphrase-protected; CLI runs of `integrate` read it from
    AINARRES_PASSPHRASE_FILE (the automation path)."""
    secret = tmp_path / "integrator.passphrase"
    secret.write_text(INTEGRATOR_PASSPHRASE + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("AINARRES_PASSPHRASE_FILE", str(secret))
    return make_project(board, tmp_path)
