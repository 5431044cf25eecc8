"""Race-free claims, proven with real processes on a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from boardenv import BoardEnv, rows

WORKER = Path(__file__).with_name("claim_worker.py")


@pytest.mark.slow
def test_concurrency_8_processes_claim_1000_tasks_each_exactly_once(board: BoardEnv) -> None:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    designer = board.agent("claude-code+opus")
    made = designer.conn.execute(
        b"SELECT ainarres.create_task(%s, 'task ' || i, '', (i %% 7) - 3, '{}', NULL, 'dev') "
        b"->> 'outcome' AS o FROM generate_series(1, 1000) i",
        (designer.id,),
    ).fetchall()
    assert {r["o"] for r in made} == {"ok"} and len(made) == 1000

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(board.settings.state_dir),
                board.url,
                "opencode+qwen",
                f"w{i}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    claimed = [line for out, _ in results for line in out.split()]
    per_worker = [len(out.split()) for out, _ in results]

    assert len(claimed) == 1000
    assert len(set(claimed)) == 1000
    assert sum(1 for n in per_worker if n > 0) >= 2, per_worker  # the work really was shared
    with board.operator() as conn:
        stages = rows(
            conn,
            "SELECT s.name, count(*) AS n FROM ainarres.tasks t "
            "JOIN ainarres.stages s ON s.id = t.stage_id GROUP BY s.name",
        )
        claims = rows(
            conn,
            "SELECT count(*) AS n, count(DISTINCT task_id) AS d "
            "FROM ainarres.events WHERE kind = 'claimed'",
        )[0]
        ids = {str(r["id"]) for r in rows(conn, "SELECT id FROM ainarres.tasks")}
    assert stages == [{"name": "review", "n": 1000}]
    assert claims == {"n": 1000, "d": 1000}
    assert set(claimed) == ids
