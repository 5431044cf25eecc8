"""Every named read's columns are exactly the fields of the model it is read into.

`board/reads.py` builds rows with psycopg's class_row; a model that forbids extra fields
fails a read that returns a column it lacks, but only when a row comes back. This test asks
the database for each query's columns (no rows needed) and compares, so a column renamed in
queries.sql and not in rows.py fails here, on an empty board.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from boardenv import BoardEnv
from pydantic import BaseModel

from ainarres import rows
from ainarres.board import reads
from ainarres.board.queries import q
from ainarres.models import Annotation

TASK: dict[str, object] = {"task": uuid.uuid4()}
# named query -> (model, parameters)
READS: dict[str, tuple[type[BaseModel], dict[str, object]]] = {
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
        columns = [c.name for c in cur.description]
    assert len(columns) == len(set(columns)), f"{name} returns a column twice"
    assert set(columns) == set(model.model_fields), f"{name} vs {model.__name__}"


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
    assert by_name["opencode+qwen"].holds("implementer")
    assert not by_name["opencode+qwen"].holds("reviewer")
