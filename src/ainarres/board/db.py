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
from ainarres.errors import AinarresError, BoardLost, Unavailable

Connection = psycopg.Connection[dict[str, Any]]


def set_up_server(settings: Settings) -> EmbeddedServer:
    """The embedded server of an initialised state directory; nothing is created where
    nothing is set up (only `ainarres init` makes a board)."""
    server = EmbeddedServer(settings.state_dir)
    if not server.initialized:
        where = settings.state_dir
        raise Unavailable(
            f"no board here ({where} has none, and no folder above holds a .ainarres); run "
            "`ainarres init`, or point at one with --state-dir / AINARRES_HOME"
        )
    return server


def operator_conninfo(settings: Settings) -> dict[str, str]:
    """How the person connects: the embedded superuser, or the configured URL as given."""
    if settings.database_url is None:
        server = set_up_server(settings)
        return server.conninfo(server.ensure_running())
    return {k: str(v) for k, v in conninfo_to_dict(settings.database_url).items()}


def family_credential(settings: Settings, family: str) -> DbCredential:
    """The family's own login, from its 0600 file under the state directory."""
    return read_credential(family_file(settings.state_dir, family), f"family {family}")


def family_conninfo(settings: Settings, family: str) -> dict[str, str]:
    """The board's address with the family's role and password: same server, less power.
    Never reads the operator's credential."""
    if settings.database_url is None:
        set_up_server(settings)
    cred = family_credential(settings, family)
    if settings.database_url is None:
        server = set_up_server(settings)
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
        raise BoardLost(
            f"cannot connect to the board at {where} as {info.get('user', '?')}: {first}; "
            "check `ainarres db status` or AINARRES_DATABASE_URL"
        ) from None
    return conn


def translate(exc: psycopg.Error, conn: Connection | None, what: str) -> AinarresError:
    """psycopg's error as ours, in one line: a lost connection is Unavailable (the caller
    may reconnect), a board without ainarres's schema is Unavailable (run init), anything
    else an AinarresError naming `what`."""
    lines = (exc.diag.message_primary or str(exc)).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return AinarresError(f"not allowed: the database refused {what} for this role ({line})")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return AinarresError(f"{what}: the task is busy (another session holds it); try again")
    if isinstance(exc, psycopg.errors.InvalidSchemaName | psycopg.errors.UndefinedTable):
        return Unavailable("the board is not set up here (no ainarres schema); run `ainarres init`")
    if isinstance(exc, psycopg.errors.UndefinedFunction):
        return Unavailable(
            f"the board has no {what} ({line}): it is not set up, or older than this "
            "ainarres; run `ainarres init` or `ainarres db migrate`"
        )
    if conn is None or conn.broken or conn.closed or isinstance(exc, psycopg.InterfaceError):
        return BoardLost(f"the board went away during {what}: {line}")
    return AinarresError(f"{what} failed: {line}")


@contextmanager
def connect(settings: Settings, family: str | None = None) -> Iterator[Connection]:
    """A connection as `family` (its own role), or as the operator when family is None.
    A database error inside the block leaves it as one of ours (see `translate`)."""
    info = operator_conninfo(settings) if family is None else family_conninfo(settings, family)
    conn = open_connection(info)
    try:
        yield conn
    except psycopg.Error as exc:
        raise translate(exc, conn, "the query") from None
    finally:
        conn.close()
