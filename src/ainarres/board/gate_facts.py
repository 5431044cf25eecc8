"""The board's side of the gate: the facts a bound hub's pre-receive hook asks for.

The hub holds a 0600 binding file with the address of the board and the gate login, a
role that may execute three read-only functions and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import make_conninfo

from ainarres.board.queries import q
from ainarres.credentials import DbCredential, new_password, write_credential
from ainarres.errors import AinarresError

if TYPE_CHECKING:
    from ainarres.board.db import Connection

BINDING_FILE = "board.json"


@dataclass(frozen=True)
class BoardFacts:
    signer: dict[str, Any] | None
    branches: dict[str, dict[str, Any] | None]
    integrations: dict[str, dict[str, Any]]


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
    hub_state_dir: Path, principal: str | None, branches: list[str], task_ids: list[str]
) -> BoardFacts | None:
    """Ask the board; None when the hub is not bound. Raises when the board cannot answer."""
    path = binding_path(hub_state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    info = {**data["conninfo"], "user": data["user"], "password": data["password"]}
    try:
        with psycopg.connect(
            make_conninfo(**info), autocommit=True, application_name="ainarres-gate"
        ) as conn:
            signer = None
            if principal:
                signer = conn.execute(q("gate_signer"), {"p": principal}).fetchone()
            found = {b: conn.execute(q("gate_task_branch"), {"b": b}).fetchone() for b in branches}
            integ = conn.execute(q("gate_integrations"), {"ids": task_ids}).fetchone()
    except psycopg.Error as exc:
        raise AinarresError(
            f"the board did not answer: {str(exc).strip().splitlines()[0]}"
        ) from None
    return BoardFacts(
        signer=signer[0] if signer else None,
        branches={b: (r[0] if r else None) for b, r in found.items()},
        integrations=(integ[0] if integ else None) or {},
    )
