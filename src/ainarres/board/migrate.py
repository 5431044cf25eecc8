"""Numbered plain-SQL migrations, each applied in one transaction with its checksum row.

A session advisory lock serialises concurrent `db migrate` runs; a changed applied file
stops the run before anything is applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from ainarres.board.db import Connection
from ainarres.errors import AinarresError

# An arbitrary constant: the key of the advisory lock that serialises migrations.
_LOCK_KEY = 0x41494E4152  # "AINAR"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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
    """Apply pending migrations under the advisory lock; return those applied."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        todo = pending(conn, folder)
        for mig in todo:
            try:
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO ainarres.schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
            except psycopg.Error as exc:
                raise AinarresError(
                    f"migration {mig.name} failed and was rolled back: {exc}"
                ) from None
        return todo
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _ensure_table(conn: Connection) -> None:
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS ainarres")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ainarres.schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
