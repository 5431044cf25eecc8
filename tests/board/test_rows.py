"""Every named read's columns are exactly the fields of the row it is read into, and of the
types those fields declare.

`board/reads.py` builds rows with psycopg's class_row; a row that lacks a column fails a read
that returns it, but only when a row comes back, and a dataclass row takes whatever type the
driver hands it (a numeric arrives as a Decimal where a float is declared). This test asks
the database for each query's columns and their types (no rows needed) and compares, so a
column renamed or retyped in queries.sql and not in rows.py fails here, on an empty board.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boardenv import BoardEnv

from ainarres import rows
from ainarres.board import reads
from ainarres.board.queries import q
from ainarres.models import Annotation

TASK: dict[str, object] = {"task": uuid.uuid4()}
# named query -> (model, parameters)
READS: dict[str, tuple[type[Any], dict[str, object]]] = {
    "task_list": (rows.TaskRow, {"stage": None, "all": True, "limit": 1}),
    "stage_counts": (rows.StageCount, {}),
    "active_tasks": (rows.ActiveTask, {}),
    "blocked_tasks": (rows.BlockedTask, {}),
    "family_list": (rows.FamilyRow, {"name": None}),
    "annotations": (Annotation, {**TASK, "round": None}),
    "reviews": (rows.ReviewRound, TASK),
    "workflows": (rows.WorkflowRow, {}),
    "integration_run": (rows.IntegrationRun, {}),
    "shipped": (rows.Shipped, {}),
    "returned": (rows.Returned, {}),
    "stage_times": (rows.StageTime, {}),
    "usage_by_family": (rows.Usage, {}),
    "unsandboxed_agents": (rows.Unsandboxed, {}),
    "track_records": (rows.TrackRecord, {}),
    "policies": (rows.Policy, {}),
    "active_denials": (rows.Denial, {}),
    "policy_standing": (rows.PolicyStanding, {}),
    "canary_settings": (rows.CanarySettings, {}),
    "canary_holds": (rows.CanaryHold, {}),
    "canary_results": (rows.CanaryResult, {}),
}


def test_every_typed_read_is_checked_here() -> None:
    source = Path(reads.__file__).read_text()
    used = set(re.findall(r'_rows\(\s*conn,\s*"(\w+)"', source))
    assert used and used == set(READS), "add the new read to READS (or drop the old one)"


@pytest.mark.parametrize("name", sorted(READS))
def test_columns_are_the_models_fields(board: BoardEnv, name: str) -> None:
    model, params = READS[name]
    with board.operator() as conn:
        cur = conn.execute(q(name), params)
        assert cur.description is not None
        columns = {c.name: _pg_type(conn, c.type_code) for c in cur.description}
    assert len(columns) == len(cur.description), f"{name} returns a column twice"
    declared = _declared(model)
    assert set(columns) == set(declared), f"{name} vs {model.__name__}"
    wrong = {c: (t.__name__, declared[c].__name__) for c, t in columns.items()
             if not issubclass(t, declared[c])}  # fmt: skip
    assert not wrong, f"{name}: column type vs {model.__name__} field type: {wrong}"


# What psycopg hands back for each PostgreSQL type the reads return (an enum is text).
_PY = {"uuid": uuid.UUID, "text": str, "varchar": str, "name": str, "bool": bool,
       "int2": int, "int4": int, "int8": int, "float4": float, "float8": float,
       "timestamptz": datetime, "numeric": Decimal, "jsonb": list, "_text": list,
       "_uuid": list}  # fmt: skip


def _pg_type(conn: Any, oid: int) -> type:
    row = conn.execute("SELECT typname, typtype FROM pg_type WHERE oid = %s", (oid,)).fetchone()
    assert row is not None
    if row["typtype"] == "e":
        return str
    assert row["typname"] in _PY, f"a read returns a {row['typname']}: say what it is in _PY"
    return _PY[row["typname"]]


def _declared(model: type[Any]) -> dict[str, type]:
    """Each field's Python type, without None; a Literal is its values' type, list[X] list."""
    hints = typing.get_type_hints(model)
    names = (
        [f.name for f in dataclasses.fields(model)]
        if dataclasses.is_dataclass(model)
        else list(model.model_fields)
    )
    out = {}
    for n in names:
        t = hints[n]
        if isinstance(t, types.UnionType):
            t = next(a for a in typing.get_args(t) if a is not type(None))
        if typing.get_origin(t) is typing.Literal:
            t = type(typing.get_args(t)[0])
        out[n] = typing.get_origin(t) or t
    return out


def test_a_read_of_a_live_board_is_typed(board: BoardEnv) -> None:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    task = board.agent("claude-code+opus").create_task("typed").task
    assert task is not None
    impl = board.agent("opencode+qwen")
    assert impl.claim_next().ok
    with board.operator() as conn:
        listed = reads.list_tasks(conn, include_closed=True)
        snap = reads.board(conn)
        fams = reads.families(conn)
    assert [t.id for t in listed] == [task.id]
    assert isinstance(listed[0], rows.TaskRow) and listed[0].holder_family == "opencode+qwen"
    assert [(a.short_id, a.family) for a in snap.active] == [(task.short_id, "opencode+qwen")]
    by_name = {f.name: f for f in fams}
    grants = [g for f in fams for g in f.grants]
    assert grants and all(isinstance(g, rows.Grant) for g in grants), grants
    with board.operator() as conn:
        stages = [s for w in reads.workflows(conn) for s in w.stages]
    assert stages and all(isinstance(s, rows.StageSettings) for s in stages), stages
    assert by_name["opencode+qwen"].holds("implementer")
    assert not by_name["opencode+qwen"].holds("reviewer")
