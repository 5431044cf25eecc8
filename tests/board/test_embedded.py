"""The embedded server: scram only, no mode changes outside the state directory, start on demand."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ainarres.board.embedded import EmbeddedServer


def _ainarres(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AINARRES_"))}
    return subprocess.run(
        [sys.executable, "-m", "ainarres", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture
def private_home(tmp_path: Path) -> Path:
    home = tmp_path / "person"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    return home


def test_embedded_init_leaves_home_mode_alone_and_refuses_passwordless(private_home: Path) -> None:
    state = private_home / "project" / ".ainarres"
    parents = [private_home, private_home.parent]
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in parents}
    res = _ainarres(state, "init")
    try:
        assert res.returncode == 0, res.stderr
        assert "applied 2 migration(s)" in res.stdout or "applied" in res.stdout
        assert {p: stat.S_IMODE(p.stat().st_mode) for p in parents} == modes
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        creds = state / "credentials" / "operator.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        hba = (state / "pg" / "data" / "pg_hba.conf").read_text()
        rules = [ln for ln in hba.splitlines() if ln.strip() and not ln.startswith("#")]
        assert rules and all(r.split()[-1] == "scram-sha-256" for r in rules), rules
        server = EmbeddedServer(state)
        for user in ("ainarres", "postgres"):
            info = {**server.conninfo(server.ensure_running()), "user": user, "password": ""}
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(make_conninfo(**info)).close()
        wrong = {**server.conninfo(server.ensure_running()), "password": "guess"}
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(make_conninfo(**wrong)).close()
        # no TCP listener at all
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                make_conninfo(**{**server.conninfo(server.ensure_running()), "host": "127.0.0.1"}),
                connect_timeout=3,
            ).close()
    finally:
        _ainarres(state, "db", "stop")


def test_embedded_start_stop_status_and_start_on_demand(private_home: Path) -> None:
    state = private_home / ".ainarres"
    try:
        assert _ainarres(state, "init").returncode == 0
        status = _ainarres(state, "db", "status", "--json")
        assert '"running": true' in status.stdout and '"pending": []' in status.stdout
        assert _ainarres(state, "db", "stop").stdout.strip() == "embedded PostgreSQL stopped"
        assert '"running": false' in _ainarres(state, "db", "status", "--json").stdout
        # any command starts it again on demand, with the data kept
        res = _ainarres(state, "brief", "kept across restarts")
        assert res.returncode == 0, res.stderr
        assert '"running": true' in _ainarres(state, "db", "status", "--json").stdout
        assert "kept across restarts" in _ainarres(state, "task", "list").stdout
        again = _ainarres(state, "init")
        assert "applied 0 migration(s)" in again.stdout
    finally:
        _ainarres(state, "db", "stop")


def test_embedded_long_state_path_uses_a_short_private_socket_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / ".ainarres"
    server = EmbeddedServer(deep)
    assert len(str(server.socket_dir)) < 90
    assert not str(server.socket_dir).startswith(str(deep))


def _connect_and_ask(server: EmbeddedServer, setting: str) -> str:
    info = server.conninfo(server.ensure_running(), "postgres")
    with psycopg.connect(make_conninfo(**info)) as conn:
        row = conn.execute(f"SHOW {setting}".encode()).fetchone()
    assert row is not None
    return str(row[0])


def test_embedded_path_with_a_quote_and_a_space_starts_and_connects() -> None:
    # Short enough for the socket to live under it too (pytest's tmp_path is too long).
    base = Path(tempfile.mkdtemp(prefix="ain"))
    state = base / "it's my project" / ".ainarres"
    server = EmbeddedServer(state)
    try:
        assert _connect_and_ask(server, "data_directory") == str(server.data_dir)
        assert server.socket_dir.is_relative_to(state)
        assert _connect_and_ask(server, "reserved_connections") == "5"
        assert server.stop()
        assert _connect_and_ask(server, "listen_addresses") == ""  # restarts on demand
    finally:
        server.stop()
        shutil.rmtree(base)


def test_embedded_stale_pid_files_of_another_process_are_removed(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "p" / ".ainarres")
    server.ensure_running()
    assert server.stop()
    # The server died without cleaning up, and its pid now belongs to something else.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = server.data_dir / "postmaster.pid"
        pidfile.write_text(f"{sleeper.pid}\n{server.data_dir}\n0\n{5432}\n")
        socket_lock = server.socket_dir / ".s.PGSQL.5432.lock"
        socket_lock.write_text(f"{sleeper.pid}\n{server.data_dir}\n")
        assert server.status().running is False
        assert _connect_and_ask(server, "port") == "5432"
        status = server.status()
        assert status.running and status.pid not in (None, sleeper.pid)
        assert sleeper.poll() is None  # only the files went, not the process
    finally:
        sleeper.kill()
        sleeper.wait()
        server.stop()
