"""Shared fixtures: an isolated environment, and a real PostgreSQL board per test.

One embedded cluster serves the whole session; a template database is migrated once and
each test gets a fresh database copied from it, so tests are independent and fast. `proj`
likewise copies a project (families, keys, a bound hub) made once, not once a test.
"""

from __future__ import annotations

import compileall
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from boardenv import TEMPLATE, BoardEnv, Cluster, create_board_database, drop_board_database
from scenario import INTEGRATOR_PASSPHRASE, Project, ProjectTemplate, make_project

from ainarres.board import migrate
from ainarres.board.db import open_connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.config import Settings

_counter = itertools.count()
FRESH = "fresh_project"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # once, in the process that starts the workers
        # The suite starts `python -m ainarres` ~2,500 times (commands, agents, the hub's
        # hook). Where the environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE, as
        # on CI), each start would compile every module it imports again, ~0.1 s of CPU for
        # an agent; compiled here once, as pip does when it installs a package.
        compileall.compile_dir(Path(__file__).parents[1] / "src" / "ainarres", quiet=1)
    config.addinivalue_line(
        "markers",
        f"{FRESH}: `proj` is made for this test alone, not copied (the test changes the "
        "families' database roles, which copies share)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each worker starts on its share of the slow tests, so a parallel run does not end
    with two cores waiting on a chaos run started last.

    `--dist worksteal` (pyproject's addopts) hands worker i the i-th of N contiguous slices
    of this list, and a worker that runs dry takes the back half of the longest queue left.
    So the slow tests are dealt round-robin to the fronts of the slices (a slice that is
    never reached in order just loses its tail to the others; the order is the same in
    every worker, as xdist requires)."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow = [item for item in items if item.get_closest_marker("slow")]
    rest = [item for item in items if not item.get_closest_marker("slow")]
    ordered: list[pytest.Item] = []
    left = len(items)
    for worker in range(workers):
        share = left // (workers - worker)  # as worksteal cuts the list
        head = slow[worker::workers]
        take = max(0, share - len(head))
        ordered += head + rest[:take]
        del rest[:take]
        left -= share
    items[:] = ordered + rest


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
        # This cluster is thrown away after the session and no test outlives a crash of the
        # machine, so nothing needs to reach the disk: without fsync, the checkpoint that
        # every DROP DATABASE forces (one a test) costs milliseconds instead of ~0.4 s.
        conn.execute(b"ALTER SYSTEM SET fsync = off")
        conn.execute(b"SELECT pg_reload_conf()")
        conn.execute(f"CREATE DATABASE {TEMPLATE}".encode())
    with open_connection(c.conninfo(TEMPLATE)) as conn:
        migrate.migrate(conn)
    yield c
    server.stop()


@pytest.fixture(scope="session")
def _project_template(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProjectTemplate]:
    """What `proj` copies: made by the first test that asks for it (see ProjectTemplate)."""
    template = ProjectTemplate(cluster, tmp_path_factory.mktemp("project-template"))
    yield template
    template.close()


def _copies_the_project(request: pytest.FixtureRequest) -> bool:
    return "proj" in request.fixturenames and not request.node.get_closest_marker(FRESH)


@pytest.fixture
def board(
    cluster: Cluster,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    _project_template: ProjectTemplate,
) -> Iterator[BoardEnv]:
    """A fresh board database copied from the migrated template; for a test that uses
    `proj`, copied from the project template instead (its families already there)."""
    dbname = f"t_{os.getpid()}_{next(_counter)}"
    copied = _copies_the_project(request)
    url = _project_template.new_board(dbname) if copied else create_board_database(cluster, dbname)
    env = BoardEnv(cluster, dbname, Settings(tmp_path / ".ainarres", url))
    try:
        yield env
    finally:
        for conn in env.opened:
            conn.close()
        drop_board_database(cluster, dbname)
        if copied:
            _project_template.done(dbname)


@pytest.fixture
def proj(
    board: BoardEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    _project_template: ProjectTemplate,
) -> Project:
    """A board with five families and keys, a hub bound to it, and a clone of the hub.

    Copied from a project made once per session (`scenario.ProjectTemplate`); a test marked
    `fresh_project` (one that changes the families' database roles, which every copy
    shares) gets one made for it alone.

    The integrator's key is passphrase-protected; CLI runs of `integrate` read it from
    AINARRES_PASSPHRASE_FILE (the automation path)."""
    secret = tmp_path / "integrator.passphrase"
    secret.write_text(INTEGRATOR_PASSPHRASE + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("AINARRES_PASSPHRASE_FILE", str(secret))
    if _project_template.holds(board):
        return _project_template.copy(board, tmp_path)
    return make_project(board, tmp_path)
