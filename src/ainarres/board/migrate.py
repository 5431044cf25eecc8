"""Numbered plain-SQL migrations, each applied in one transaction with its checksum row.

Concurrent `db migrate` runs are serialised by a lock on a table in a private schema
(`ainarres_private`, no USAGE for anyone but its owner), held by a second connection for
the whole run: a family role cannot take it, as it could take an advisory lock. Each
migration waits at most LOCK_TIMEOUT for a lock (a family with an open transaction on a
board table blocks DDL); when it gives up, the error names the session in the way. A
changed applied file stops the run before anything is applied.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import psycopg
from psycopg.rows import class_row, dict_row

from ainarres.board.db import Connection
from ainarres.errors import AinarresError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
PRIVATE_SCHEMA = "ainarres_private"
_GUARD = f"{PRIVATE_SCHEMA}.migrate_lock"
# How long one migration waits for a lock, and a run waits for another run to finish.
LOCK_TIMEOUT = "5s"
GUARD_TIMEOUT = "120s"
_POLL = 0.1  # seconds between looks at who blocks a migration

# Who holds what `pid` waits for: from pg_locks (pg_blocking_pids reads the lock manager)
# and pg_stat_activity. Run on the guard connection, inside its long transaction: clear
# the activity snapshot first, or the first look would be kept for the whole run.
_BLOCKERS = """
WITH wanted AS (
    SELECT * FROM pg_locks WHERE pid = %(pid)s AND NOT granted LIMIT 1
)
SELECT a.pid, a.usename AS role, a.state, a.xact_start, a.state_change,
       (SELECT COALESCE((SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c
                         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = w.relation),
                        w.locktype) FROM wanted w) AS what,
       (SELECT string_agg(DISTINCT h.mode, '+') FROM pg_locks h, wanted w
        WHERE h.pid = a.pid AND h.granted AND h.locktype = w.locktype
          AND h.database IS NOT DISTINCT FROM w.database
          AND h.relation IS NOT DISTINCT FROM w.relation
          AND h.transactionid IS NOT DISTINCT FROM w.transactionid) AS mode
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids(%(pid)s))
ORDER BY a.pid
"""

_GUARD_HOLDERS = """
SELECT a.pid, a.usename AS role, a.state, a.xact_start, a.state_change,
       %(what)s AS what, l.mode
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation = to_regclass(%(what)s)
ORDER BY a.pid
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The migrations shipped in the wheel, or the top-level folder of a source checkout."""
    shipped = Path(str(resources.files("ainarres"))) / "migrations"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[3] / "migrations"


def load(folder: Path | None = None) -> list[Migration]:
    """The migration files in version order; a misnamed or duplicate file is an error."""
    folder = folder or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise AinarresError(f"migration file {path.name} is not named NNNN_words.sql")
        version = int(match.group(1))
        if version in found:
            raise AinarresError(f"two migrations share number {version:04d}: {path.name}")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


def applied(conn: Connection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of what the database says it has applied."""
    rows = conn.execute(
        "SELECT version, name, checksum FROM ainarres.schema_migrations ORDER BY version"
    ).fetchall()
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def pending(conn: Connection, folder: Path | None = None) -> list[Migration]:
    """Migrations not yet applied; refuses if an applied one changed or vanished."""
    _ensure_table(conn)
    done = applied(conn)
    available = {m.version: m for m in load(folder)}
    for version, (name, checksum) in done.items():
        mig = available.get(version)
        if mig is None:
            raise AinarresError(f"applied migration {name} is missing from this installation")
        if mig.checksum != checksum:
            raise AinarresError(
                f"migration {name} changed after it was applied (checksum differs); "
                "restore the file and add a new numbered migration instead"
            )
    return [m for v, m in sorted(available.items()) if v not in done]


def migrate(conn: Connection, folder: Path | None = None) -> list[Migration]:
    """Apply pending migrations, one transaction each, one run at a time; return those
    applied. A migration that waits LOCK_TIMEOUT for a lock is rolled back, and the error
    names who holds it."""
    conn.autocommit = True
    with _serialised(conn) as guard:
        todo = pending(conn, folder)
        for mig in todo:
            _apply(conn, guard, mig)
        return todo


def _apply(conn: Connection, guard: Connection, mig: Migration) -> None:
    watch = _Watch(guard, conn.info.backend_pid)
    watch.start()
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'".encode())
            conn.execute(mig.sql.encode())
            conn.execute(
                "INSERT INTO ainarres.schema_migrations (version, name, checksum) "
                "VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
    except psycopg.errors.LockNotAvailable:
        watch.stop()
        raise AinarresError(
            f"migration {mig.name} waited {LOCK_TIMEOUT} for a lock and was rolled back: "
            + _blocked_by(watch.blockers)
        ) from None
    except psycopg.Error as exc:
        raise AinarresError(f"migration {mig.name} failed and was rolled back: {exc}") from None
    finally:
        watch.stop()


class _Watch(threading.Thread):
    """While a migration runs, notes who blocks it (on the guard connection, which nothing
    else uses meanwhile), so a lock timeout can say whom to end."""

    def __init__(self, guard: Connection, pid: int) -> None:
        super().__init__(name="migrate-watch", daemon=True)
        self.guard, self.pid = guard, pid
        self.blockers: list[_Blocker] = []
        self._done = threading.Event()

    def run(self) -> None:
        try:
            while not self._done.wait(_POLL):
                self.guard.execute("SELECT pg_stat_clear_snapshot()")
                found = _blockers(self.guard, _BLOCKERS, {"pid": self.pid})
                if found:
                    self.blockers = found
        except psycopg.Error:
            pass  # a failed look only costs the timeout message its detail

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join()


@dataclass(frozen=True)
class _Blocker:
    """A session holding what a migration waits for (_BLOCKERS, _GUARD_HOLDERS)."""

    pid: int
    role: str | None
    state: str | None
    xact_start: datetime | None
    state_change: datetime | None
    what: str | None
    mode: str | None


def _blockers(conn: Connection, sql: str, params: dict[str, object]) -> list[_Blocker]:
    with conn.cursor(row_factory=class_row(_Blocker)) as cur:
        return cur.execute(sql, params).fetchall()


def _blocked_by(blockers: list[_Blocker]) -> str:
    """One line: who holds the lock, since when, and what to do about it."""
    if not blockers:
        return (
            "another session holds it (see pg_locks and pg_stat_activity); end that "
            "session or wait for it, then run `ainarres db migrate` again"
        )
    what = blockers[0].what or "a lock"
    who = ", ".join(
        f"pid {b.pid} (role {b.role}, {b.state or 'unknown state'}"
        f"{_since(b)}{', holds ' + b.mode if b.mode else ''})"
        for b in blockers
    )
    pids = [b.pid for b in blockers]
    end = (
        f"SELECT pg_terminate_backend({pids[0]})"
        if len(pids) == 1
        else f"SELECT pg_terminate_backend(p) FROM unnest(ARRAY{pids}) p"
    )
    return (
        f"{what} is held by {who}; end it ({end}) or let it finish, "
        "then run `ainarres db migrate` again"
    )


def _since(b: _Blocker) -> str:
    when = "%Y-%m-%d %H:%M:%S %Z"
    said = f" since {b.state_change:{when}}" if b.state_change else ""
    if b.xact_start and b.xact_start != b.state_change:
        said += f", its transaction open since {b.xact_start:{when}}"
    return said


@contextmanager
def _serialised(conn: Connection) -> Iterator[Connection]:
    """A second connection, as the same user, holding the run's lock in a transaction
    until the run ends. The lock's table is made on the first run, race-free."""
    try:
        guard: Connection = psycopg.connect(
            conn.info.dsn,
            password=conn.info.password or None,
            autocommit=True,
            row_factory=dict_row,
            application_name="ainarres migrate",
        )
    except psycopg.OperationalError as exc:
        raise AinarresError(
            f"migrate needs a second connection to the board and could not open one: "
            f"{str(exc).strip().splitlines()[-1]}"
        ) from None
    try:
        _ensure_guard(guard)
        guard.execute(b"BEGIN")
        guard.execute(f"SET LOCAL lock_timeout = '{GUARD_TIMEOUT}'".encode())
        try:
            guard.execute(f"LOCK TABLE {_GUARD} IN EXCLUSIVE MODE".encode())
        except psycopg.errors.LockNotAvailable:
            guard.execute(b"ROLLBACK")
            holders = _blockers(guard, _GUARD_HOLDERS, {"what": _GUARD})
            raise AinarresError(
                f"another `ainarres db migrate` has run for over {GUARD_TIMEOUT}: "
                + _blocked_by(holders)
            ) from None
        yield guard  # closing the connection ends its transaction, and the lock
    finally:
        guard.close()


def _ensure_guard(guard: Connection) -> None:
    """Make the private schema and its lock table if missing. Two first runs at once: one
    creates them, the other's CREATE fails on the catalogue's unique index and looks again."""
    for _ in range(5):
        row = guard.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (_GUARD,)).fetchone()
        if row is not None and row["ok"]:
            return
        try:
            with guard.transaction():
                guard.execute(f"CREATE SCHEMA IF NOT EXISTS {PRIVATE_SCHEMA}".encode())
                guard.execute(f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM PUBLIC".encode())
                guard.execute(f"CREATE TABLE {_GUARD} ()".encode())
                guard.execute(f"REVOKE ALL ON {_GUARD} FROM PUBLIC".encode())
        except (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateSchema,
            psycopg.errors.DuplicateTable,
        ):
            continue
    raise AinarresError(f"could not create {_GUARD}; run `ainarres db migrate` again")


def _ensure_table(conn: Connection) -> None:
    for _ in range(5):
        try:
            with conn.transaction():
                conn.execute("CREATE SCHEMA IF NOT EXISTS ainarres")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS ainarres.schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
            return
        except (
            psycopg.errors.UniqueViolation,
            psycopg.errors.DuplicateSchema,
            psycopg.errors.DuplicateTable,
        ):
            continue  # made at the same moment by `db status`; it exists now
    raise AinarresError("could not create ainarres.schema_migrations; run the command again")
