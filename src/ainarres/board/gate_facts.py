"""The board's side of the gate: the facts a bound hub's pre-receive hook asks for.

The hub holds a 0600 binding file with the address of the board and the gate login, a
role that may execute four read-only functions and nothing else.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from ainarres.board.queries import q
from ainarres.credentials import DbCredential, new_password, write_credential
from ainarres.errors import AinarresError
from ainarres.gate.policy import IntegrationFacts, SignerFacts, TaskBranchFacts

if TYPE_CHECKING:
    from ainarres.board.db import Connection

BINDING_FILE = "board.json"
T = TypeVar("T")


@dataclass(frozen=True)
class BoardFacts:
    """The board's answers, as the policy's types: the signer, each pushed task branch (by
    branch name; None: no such task), each task a commit on main claims (by task id)."""

    signer: SignerFacts | None
    branches: dict[str, TaskBranchFacts | None]
    integrations: dict[str, IntegrationFacts]
    seeded: frozenset[str] = frozenset()  # commits arriving on main that are canary heads


def binding_path(hub_state_dir: Path) -> Path:
    return hub_state_dir / BINDING_FILE


def bind(conn: Connection, hub_state_dir: Path, conninfo: dict[str, str]) -> str:
    """As the operator: (re)create the gate login and write the hub's 0600 binding file."""
    password = new_password()
    row = conn.execute(q("gate_login"), {"password": password}).fetchone()
    assert row is not None
    role = str(row["r"]["family"]["db_role"])
    info = {k: v for k, v in conninfo.items() if k not in ("user", "password")}
    write_credential(binding_path(hub_state_dir), DbCredential(role, password), conninfo=info)
    return role


def fetch(
    hub_state_dir: Path,
    principal: str | None,
    branches: list[str],
    task_ids: list[str],
    arriving: list[str] | None = None,
    pool: Pool | None = None,
) -> BoardFacts | None:
    """Ask the board; None when the hub is not bound. Raises when the board cannot answer.
    With a pool (the resident gate's), over a connection kept from an earlier push."""

    def ask(conn: psycopg.Connection[Any]) -> BoardFacts:
        return _ask(conn, principal, branches, task_ids, arriving)

    try:
        if pool is not None:
            return pool.ask(ask)
        info = _binding(binding_path(hub_state_dir))
        if info is None:
            return None
        with _connect(info) as conn:
            return ask(conn)
    except psycopg.Error as exc:
        raise AinarresError(
            f"the board did not answer: {str(exc).strip().splitlines()[0]}"
        ) from None


def _binding(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return {**data["conninfo"], "user": data["user"], "password": data["password"]}


def _connect(info: dict[str, str]) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(**info), autocommit=True,
                           application_name="ainarres-gate")  # fmt: skip


def _ask(
    conn: psycopg.Connection[Any],
    principal: str | None,
    branches: list[str],
    task_ids: list[str],
    arriving: list[str] | None,
) -> BoardFacts:
    signer = None
    if principal:
        signer = conn.execute(q("gate_signer"), {"p": principal}).fetchone()
    found = {b: conn.execute(q("gate_task_branch"), {"b": b}).fetchone() for b in branches}
    integ = conn.execute(q("gate_integrations"), {"ids": task_ids}).fetchone()
    seeded = None
    if arriving:
        seeded = conn.execute(q("gate_seeded"), {"oids": arriving}).fetchone()
    claimed: dict[str, Any] = (integ[0] if integ else None) or {}
    return BoardFacts(
        signer=_signer(signer[0]) if signer and signer[0] else None,
        branches={b: (_branch(r[0]) if r and r[0] else None) for b, r in found.items()},
        integrations={tid: _integration(f) for tid, f in claimed.items()},
        seeded=frozenset(seeded[0] if seeded and seeded[0] else ()),
    )


class Pool:
    """Board connections the resident gate keeps between pushes (one per push at a time).

    Opened from the hub's binding file; all are dropped when that file changes (the hub
    was bound again). A kept connection that fails (the server restarted) is dropped and
    the question asked once more on a new one; a new one that fails refuses the push.
    Autocommit, and only the gate's read-only functions run on them: nothing of one push
    is left for the next.
    """

    def __init__(self, hub_state_dir: Path) -> None:
        self.path = binding_path(hub_state_dir)
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._stamp: tuple[int, int, int] | None = None

    def ask(self, question: Callable[[psycopg.Connection[Any]], T]) -> T | None:
        """`question` over a connection; None when the hub is not bound."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self.close()
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._drop()
                self._stamp = stamp
            kept = self._idle.pop() if self._idle else None
        if kept is not None:
            try:
                return self._answer(kept, question, stamp)
            except psycopg.Error:
                pass  # a kept one went stale (closed by _answer): once more, on a new one
        info = _binding(self.path)
        if info is None:
            return None
        return self._answer(_connect(info), question, stamp)

    def _answer(self, conn: psycopg.Connection[Any],
                question: Callable[[psycopg.Connection[Any]], T], stamp: tuple[int, int, int]
                ) -> T:  # fmt: skip
        """`question` over `conn`, which is kept for the next push unless it failed or the
        binding changed meanwhile."""
        try:
            answer = question(conn)
        except psycopg.Error:
            conn.close()
            raise
        with self._lock:
            if stamp == self._stamp:
                self._idle.append(conn)
                return answer
        conn.close()
        return answer

    def _drop(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    def close(self) -> None:
        with self._lock:
            self._drop()


# The gate functions' jsonb (migrations: gate_signer, gate_task_branch, gate_integrations).
def _signer(f: dict[str, Any]) -> SignerFacts:
    return SignerFacts(family=str(f["family"]), roles=frozenset(f["roles"]))


def _branch(f: dict[str, Any]) -> TaskBranchFacts:
    return TaskBranchFacts(
        short_id=str(f["short_id"]),
        stage=str(f["stage"]),
        writes_branch=bool(f["writes_branch"]),
        holder_family=f["holder_family"],
        epoch=int(f["epoch"]),
        lease_live=bool(f["lease_live"]),
    )


def _integration(f: dict[str, Any]) -> IntegrationFacts:
    return IntegrationFacts(
        short_id=str(f["short_id"]),
        stage=str(f["stage"]),
        head_commit=f["head_commit"],
        holder_family=f["holder_family"],
        lease_live=bool(f["lease_live"]),
        awaits_integration=bool(f["awaits_integration"]),
    )
