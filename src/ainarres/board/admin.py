"""The person's verbs: briefs, families, grants, denials, unblocking. Operator connection only."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ainarres.board.db import Connection
from ainarres.board.verbs import call
from ainarres.config import Settings
from ainarres.credentials import DbCredential, family_file, new_password, write_credential
from ainarres.errors import AinarresError
from ainarres.models import Outcome


def brief(
    conn: Connection, title: str, body: str = "", priority: int = 0, workflow: str = "dev"
) -> Outcome:
    """A person submits a brief: a task in the workflow's initial stage, for a designer."""
    return call(conn, "brief", title=title, body=body, priority=priority, workflow=workflow)


def add_family(
    conn: Connection, settings: Settings, name: str, tool: str, model: str, maker: str | None = None
) -> Outcome:
    """Create the family, its own database role, and its 0600 credential file, all or nothing.

    The credential is written inside the database transaction: if the write fails the role
    is rolled back, and if the commit fails the file is removed again.
    """
    password = new_password()
    written = None
    try:
        with conn.transaction():
            out = call(conn, "family_add", name=name, tool=tool, model=model, password=password,
                       maker=maker)  # fmt: skip
            if out.ok and out.family is not None:
                if not _safe_name(name):  # the database checked it; this guards the path
                    raise AinarresError(f"family name {name!r} cannot be a file name")
                written = family_file(settings.state_dir, name)
                write_credential(written, DbCredential(out.family.db_role, password))
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return out


def _safe_name(name: str) -> bool:
    # The database validates the name too; this only keeps a path out of the file system.
    return bool(name) and "/" not in name and name not in {".", ".."} and "\x00" not in name


def grant(conn: Connection, family: str, role: str, expires_at: datetime | None = None) -> Outcome:
    return call(conn, "grant_role", family=family, role=role, expires_at=expires_at)


def deny(
    conn: Connection, family: str, role: str, reason: str, expires_at: datetime | None = None
) -> Outcome:
    return call(conn, "deny_role", family=family, role=role, reason=reason, expires_at=expires_at)


def lift(conn: Connection, family: str, role: str, reason: str) -> Outcome:
    return call(conn, "lift_denial", family=family, role=role, reason=reason)


def unblock(conn: Connection, task: UUID, reason: str) -> Outcome:
    return call(conn, "unblock", task=task, reason=reason)


def set_policy(conn: Connection, name: str, threshold: float | None = None,
               window: str | None = None, denial_base: str | None = None,
               enabled: bool | None = None) -> Outcome:  # fmt: skip
    """A person edits a governance policy (windows and denials as PostgreSQL intervals)."""
    return call(conn, "set_policy", name=name, threshold=threshold, window=window,
                denial_base=denial_base, enabled=enabled)  # fmt: skip


def revoke(conn: Connection, family: str, role: str, reason: str) -> Outcome:
    """Take a role back (a grant removed, logged): how the integrator seat is handed over."""
    return call(conn, "revoke_role", family=family, role=role, reason=reason)


def rotate_password(conn: Connection, settings: Settings, family: str) -> Outcome:
    """A new password for the family's role, and its 0600 credential file, all or nothing."""
    password = new_password()
    path = family_file(settings.state_dir, family)
    with conn.transaction():
        out = call(conn, "family_password", family=family, password=password)
        if out.ok and out.family is not None:
            write_credential(path, DbCredential(out.family.db_role, password))
    return out


def record_new_key(conn: Connection, family: str, fingerprint: str) -> Outcome:
    return call(conn, "family_keyed", family=family, fingerprint=fingerprint)


def retire(conn: Connection, family: str, reason: str) -> Outcome:
    """Login off, grants gone, claims released, history kept."""
    return call(conn, "family_retire", family=family, reason=reason)


def set_stage(conn: Connection, workflow: str, stage: str, lease: int | None,
              attempts: int | None) -> Outcome:  # fmt: skip
    return call(conn, "set_stage", workflow=workflow, stage=stage, lease=lease, attempts=attempts)


def set_cross_review(conn: Connection, workflow: str, mode: str | None,
                     level: str | None) -> Outcome:  # fmt: skip
    return call(conn, "set_cross_review", workflow=workflow, mode=mode, level=level)


# --- canaries (ADR 0018) ------------------------------------------------------------------


def canary_set(conn: Connection, rate: float, seed: int | None) -> Outcome:
    return call(conn, "canary_set", rate=rate, seed=seed)


def canary_plan(conn: Connection, task: UUID, round_: int, real: str, seeded: str, file: str,
                line: int, kind: str, tolerance: int, description: str) -> Outcome:  # fmt: skip
    return call(conn, "canary_plan", task=task, round=round_, real=real, seeded=seeded,
                file=file, line=line, kind=kind, tolerance=tolerance,
                description=description)  # fmt: skip


def canary_live(conn: Connection, task: UUID, round_: int) -> Outcome:
    return call(conn, "canary_live", task=task, round=round_)


def canary_release(conn: Connection, task: UUID, round_: int, restore: bool) -> Outcome:
    return call(conn, "canary_release", task=task, round=round_, restore=restore)


def canary_apply(conn: Connection, task: UUID) -> Outcome:
    return call(conn, "canary_apply", task=task)
