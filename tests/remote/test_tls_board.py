"""A board shared across machines: a server PostgreSQL (Debian's) over TLS with
`sslmode=verify-full` and scram, prepared by `ainarres init --database-url`; each family's
login can do its verbs and nothing else, and nothing reaches the board without TLS."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgserver import ServerPostgres, make_certificates, unavailable_reason
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ainarres.board.db import family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPostgres]:
    pg = ServerPostgres(tmp_path_factory.mktemp("pg"), "127.0.0.1", free_port()).start()
    yield pg
    pg.stop()


def _cli(
    state: Path, url: str, *args: str, family: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINARRES_")}
    env["AINARRES_DATABASE_URL"] = url
    if family is not None:
        env["AINARRES_FAMILY"] = family
    return subprocess.run([sys.executable, "-m", "ainarres", "--state-dir", str(state), *args],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip


def test_tls_board_init_families_and_verbs_over_verify_full(server: ServerPostgres,
                                                            tmp_path: Path) -> None:  # fmt: skip
    state, url = tmp_path / "state", server.url()
    done = _cli(state, url, "init")
    assert done.returncode == 0, done.stderr
    for args in (["family", "add", "claude-code+opus", "--tool", "claude-code", "--model", "opus"],
                 ["family", "add", "opencode+qwen", "--tool", "opencode", "--model", "qwen"],
                 ["grant", "claude-code+opus", "designer"],
                 ["grant", "opencode+qwen", "implementer"],
                 ["brief", "Add word stats"]):  # fmt: skip
        done = _cli(state, url, *args)
        assert done.returncode == 0, (args, done.stderr)
    nxt = _cli(state, url, "next", "--json", family="claude-code+opus")
    assert nxt.returncode == 0, nxt.stderr
    assert json.loads(nxt.stdout)["role"] == "designer"

    # The family's own login, as ainarres builds it: verify-full, TLS 1.3, scram.
    info = family_conninfo(Settings(state_dir=state, database_url=url), "opencode+qwen")
    assert info["sslmode"] == "verify-full" and info["user"] != "ainarres_admin"
    with psycopg.connect(make_conninfo(**info), autocommit=True) as conn:
        tls = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert tls.fetchone() == (True, "TLSv1.3")
        # the board is open to read (one brief), closed to write except through verbs
        assert conn.execute("SELECT count(*) FROM ainarres.tasks").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE ainarres.tasks SET priority = 999")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE ainarres.mine (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM ainarres_private.migrate_lock")
        # its verbs are what it has: nothing to implement yet, so empty
    with open_connection(info) as conn:
        assert Agent.start(conn, "i1").claim_next().outcome == "empty"
    stored = conninfo_to_dict(url)
    assert stored["sslmode"] == "verify-full"
    # Nothing of the operator's password was written under the state directory.
    for path in state.rglob("*"):
        if path.is_file() and not path.is_relative_to(state / "copies"):
            assert server.admin_password.encode() not in path.read_bytes(), path


def test_tls_board_refuses_plaintext_wrong_ca_and_wrong_name(server: ServerPostgres,
                                                            tmp_path: Path) -> None:  # fmt: skip
    """What a machine on the network cannot do: connect without TLS, or trust a server
    that a certificate of another CA (or for another name) stands for."""

    def attempt(url: str) -> str:
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            return str(exc)
        return "connected"

    assert "no encryption" in attempt(server.url(sslmode="disable"))
    other = make_certificates(tmp_path / "other", ["localhost"], ["127.0.0.1"])
    assert "certificate verify failed" in attempt(server.url(ca=other.ca))
    # the certificate names localhost and 127.0.0.1, not another name for this host
    said = attempt(server.url() + "&host=board.example&hostaddr=127.0.0.1")
    assert "does not match host name" in said, said
    assert attempt(server.url()) == "connected"
