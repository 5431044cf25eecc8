"""Connections to the board, as the operator or as a family, with psycopg errors translated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from ainarres.board.embedded import EmbeddedServer
from ainarres.config import Settings
from ainarres.credentials import DbCredential, family_file, read_credential
from ainarres.errors import Unavailable

Connection = psycopg.Connection[dict[str, Any]]


def operator_conninfo(settings: Settings) -> dict[str, str]:
    """How the person connects: the embedded superuser, or the configured URL as given."""
    if settings.database_url is None:
        server = EmbeddedServer(settings.state_dir)
        return server.conninfo(server.ensure_running())
    return {k: str(v) for k, v in conninfo_to_dict(settings.database_url).items()}


def family_credential(settings: Settings, family: str) -> DbCredential:
    """The family's own login, from its 0600 file under the state directory."""
    return read_credential(family_file(settings.state_dir, family), f"family {family}")


def family_conninfo(settings: Settings, family: str) -> dict[str, str]:
    """The board's address with the family's role and password: same server, less power.
    Never reads the operator's credential."""
    cred = family_credential(settings, family)
    if settings.database_url is None:
        server = EmbeddedServer(settings.state_dir)
        server.ensure_started()
        return server.conninfo(cred)
    info = {k: str(v) for k, v in conninfo_to_dict(settings.database_url).items()}
    info.update(user=cred.user, password=cred.password)
    return info


def open_connection(info: dict[str, str], *, autocommit: bool = True) -> Connection:
    """Connect, turning connection failures into an error that says what to check."""
    try:
        conn: Connection = psycopg.connect(
            make_conninfo(**info),
            autocommit=autocommit,
            row_factory=dict_row,
            application_name="ainarres",
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = info.get("host", "?")
        raise Unavailable(
            f"cannot connect to the board at {where} as {info.get('user', '?')}: {first}; "
            "check `ainarres db status` or AINARRES_DATABASE_URL"
        ) from None
    return conn


@contextmanager
def connect(settings: Settings, family: str | None = None) -> Iterator[Connection]:
    """A connection as `family` (its own role), or as the operator when family is None."""
    info = operator_conninfo(settings) if family is None else family_conninfo(settings, family)
    conn = open_connection(info)
    try:
        yield conn
    finally:
        conn.close()
