"""The runner and the demo, as real processes: claim, tool, push, verdicts, stop, crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agentrun import agent_argv
from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, REVIEWER, Project, git

from ainarres import project
from ainarres.agents.sandbox import unavailable_reason
from ainarres.board import admin
from ainarres.board.db import Connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.demo import run_demo
from ainarres.gate import resident
from ainarres.processes import FAILPOINT_ENV

SCRIPTED = [sys.executable, "-m", "ainarres.agents.scripted"]
SECOND_REVIEWER = "claude-code+sonnet"


def _config(tmp_path: Path, families: dict[str, tuple[str, list[str]]]) -> Path:
    lines = []
    for name, (role, command) in families.items():
        lines += [
            f'[families."{name}"]',
            'adapter = "script"',
            'model = "m"',
            f'roles = ["{role}"]',
            f"command = {json.dumps(command)}",
            'env = ["AINARRES_SCRIPT_DELAY"]',
            "",
        ]
    path = tmp_path / "ainarres.toml"
    path.write_text("\n".join(lines))
    return path


def _agent(
    proj: Project,
    cfg: Path,
    family: str,
    *args: str,
    delay: float = 0.0,
) -> subprocess.Popen[str]:
    argv, env = agent_argv(proj.board, cfg, family, *args,
                           env={"AINARRES_SCRIPT_DELAY": str(delay)})  # fmt: skip
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip


def _two_tasks_done_and_next(proj: Project, cfg: Path, family: str, timeout: float) -> None:
    """`agent run --max-tasks 2` to its end: its first done (or verdict) claims the second
    task in the same transaction, its last claims nothing."""
    proc = _agent(proj, cfg, family, "--max-tasks", "2")
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    assert out.count("claimed the next in the same transaction") == 1, out


def _claims_and_moves(proj: Project, family: str) -> list[dict[str, Any]]:
    """The family's claimed and advanced events in order, each with the xid that wrote it."""
    with proj.board.operator() as conn:
        return rows(
            conn,
            "SELECT e.task_id, e.kind, e.xmin::text AS tx, e.data FROM ainarres.events e "
            "JOIN ainarres.families f ON f.id = e.family_id "
            "WHERE f.name = %s AND e.kind IN ('claimed', 'advanced') ORDER BY e.id",
            family,
        )


def _holder(proj: Project, task: object) -> str | None:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT f.name FROM ainarres.tasks t LEFT JOIN ainarres.families f "
            "ON f.id = t.holder_family WHERE t.id = %s",
            task,
        )
    name: str | None = got[0]["name"]
    return name


def _kinds(conn: Connection, task: object) -> list[str]:
    sql = "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id"
    return [r["kind"] for r in rows(conn, sql, task)]


def _wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_runner_implementer_commits_pushes_and_says_done(proj: Project, tmp_path: Path) -> None:
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", SCRIPTED)})
    task = must(proj.agent(DESIGNER).create_task("longest", "feature: longest").task)
    proc = _agent(proj, cfg, IMPLEMENTER, "--max-tasks", "1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    tip = proj.hub_ref(f"refs/heads/{task.branch}")
    assert tip is not None
    assert "def longest_words" in git(proj.hub, "show", f"{tip}:sandbox/longest.py")
    with proj.board.operator() as conn:
        t = rows(
            conn,
            "SELECT s.name AS stage, t.head_commit FROM ainarres.tasks t "
            "JOIN ainarres.stages s ON s.id = t.stage_id WHERE t.id = %s",
            task.id,
        )[0]
        usage = rows(conn, "SELECT data FROM ainarres.events WHERE kind = 'usage'")
        sandboxed = rows(
            conn, "SELECT sandboxed FROM ainarres.agents WHERE name = %s", f"{IMPLEMENTER}-1"
        )[0]["sandboxed"]
    assert t == {"stage": "review", "head_commit": tip}
    assert len(usage) == 1 and usage[0]["data"]["seconds"] >= 0
    assert sandboxed is (unavailable_reason() is None)


def test_runner_claims_its_next_task_in_the_transaction_of_its_done(
    proj: Project, tmp_path: Path
) -> None:
    """Done and next (ADR 0012): the runner's done of one task claims the next in the same
    transaction, with the runner's lease; its last task (--max-tasks) claims nothing."""
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", SCRIPTED)})
    designer = proj.agent(DESIGNER)
    tasks = [must(designer.create_task(k, f"feature: {k}").task)
             for k in ("sentence", "vocabulary", "longest")]  # fmt: skip
    _two_tasks_done_and_next(proj, cfg, IMPLEMENTER, timeout=120)
    got = _claims_and_moves(proj, IMPLEMENTER)
    seen = [(r["task_id"], r["kind"]) for r in got]
    first, second, third = (t.id for t in tasks)
    assert seen == [(first, "claimed"), (first, "advanced"), (second, "claimed"),
                    (second, "advanced")]  # fmt: skip
    # one transaction: the done's and the claim's event rows were written by one xid
    tx = [r["tx"] for r in got]
    assert tx[1] == tx[2] and len({tx[0], tx[1], tx[3]}) == 3
    assert got[2]["data"]["lease_seconds"] == got[0]["data"]["lease_seconds"] == 60
    assert _holder(proj, third) is None and _holder(proj, second) is None


def test_a_reviewers_verdict_claims_its_next_review_in_the_same_transaction(
    proj: Project, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", SCRIPTED),
                             REVIEWER: ("reviewer", SCRIPTED)})  # fmt: skip
    designer = proj.agent(DESIGNER)
    first, second = (must(designer.create_task(k, f"feature: {k}").task)
                     for k in ("sentence", "vocabulary"))  # fmt: skip
    for family in (IMPLEMENTER, REVIEWER):
        _two_tasks_done_and_next(proj, cfg, family, timeout=180)
    got = _claims_and_moves(proj, REVIEWER)
    assert [(r["task_id"], r["kind"]) for r in got] == [
        (first.id, "claimed"), (first.id, "advanced"), (second.id, "claimed"),
        (second.id, "advanced")]  # fmt: skip
    assert got[1]["tx"] == got[2]["tx"] != got[3]["tx"]  # the approval and the next claim


def test_a_runner_killed_holding_its_next_claim_lets_it_go_when_it_restarts(
    proj: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", SCRIPTED)})
    designer = proj.agent(DESIGNER)
    first, second = (must(designer.create_task(k, f"feature: {k}").task)
                     for k in ("sentence", "vocabulary"))  # fmt: skip
    monkeypatch.setenv(FAILPOINT_ENV, "runner-after-next")
    proc = _agent(proj, cfg, IMPLEMENTER, "--until-idle", "5")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, out
    assert _holder(proj, second.id) == IMPLEMENTER  # claimed with the first's done
    monkeypatch.delenv(FAILPOINT_ENV)
    proc = _agent(proj, cfg, IMPLEMENTER, "--max-tasks", "1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert f"released {second.short_id}, held by an earlier run of this agent" in out
    with proj.board.operator() as conn:
        assert _kinds(conn, first.id)[-1] == "advanced"
        kinds = _kinds(conn, second.id)
    # held from the crash, let go by the restart (resume, release), then claimed anew
    assert kinds[-1] == "advanced" and "released" in kinds
    assert kinds.index("released") < len(kinds) - 1 - kinds[::-1].index("claimed")


def test_runner_sigterm_stops_the_tool_and_releases_the_task(proj: Project, tmp_path: Path) -> None:
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", ["sh", "-c", "sleep 120"])})
    task = must(proj.agent(DESIGNER).create_task("slow").task)
    proc = _agent(proj, cfg, IMPLEMENTER)
    _wait_for(lambda: _holder(proj, task.id) == IMPLEMENTER)
    time.sleep(0.5)  # the tool is running now
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"stopped; released {task.short_id}" in out
    assert _holder(proj, task.id) is None
    with proj.board.operator() as conn:
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task.id
            )
        ]
    assert kinds[-1] == "released"


def test_runner_reviewer_killed_mid_review_other_family_finishes(
    proj: Project, tmp_path: Path
) -> None:
    with proj.board.operator() as conn:
        added = admin.add_family(
            conn, proj.board.settings, SECOND_REVIEWER, "claude-code", "sonnet"
        )
        assert added.ok and admin.grant(conn, SECOND_REVIEWER, "reviewer").ok
        conn.execute(b"UPDATE ainarres.stages SET lease_seconds = 2 WHERE name = 'review'")
    project.ensure_family_key(proj.board.settings, SECOND_REVIEWER)
    cfg = _config(
        tmp_path,
        {
            IMPLEMENTER: ("implementer", SCRIPTED),
            REVIEWER: ("reviewer", SCRIPTED),
            SECOND_REVIEWER: ("reviewer", SCRIPTED),
        },
    )
    task = must(proj.agent(DESIGNER).create_task("vocabulary", "feature: vocabulary").task)
    impl = _agent(proj, cfg, IMPLEMENTER, "--max-tasks", "1")
    impl.communicate(timeout=120)
    assert impl.returncode == 0
    doomed = _agent(proj, cfg, REVIEWER, delay=120)
    _wait_for(lambda: _holder(proj, task.id) == REVIEWER)
    time.sleep(0.5)
    os.killpg(doomed.pid, signal.SIGKILL)  # the runner and its tool, no goodbye
    doomed.communicate(timeout=10)
    assert _holder(proj, task.id) == REVIEWER  # still held: only the lease can free it
    rescuer = _agent(proj, cfg, SECOND_REVIEWER, "--max-tasks", "1")
    out, _ = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, out
    with proj.board.operator() as conn:
        verdicts = rows(
            conn,
            "SELECT r.verdict, f.name FROM ainarres.reviews r JOIN "
            "ainarres.families f ON f.id = r.family_id WHERE r.task_id = %s",
            task.id,
        )
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task.id
            )
        ]
    assert verdicts == [{"verdict": "approve", "name": SECOND_REVIEWER}]
    assert "lease_expired" in kinds


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the demo runs; its embedded server (left running by design) is stopped after."""
    yield tmp_path / "demo"
    EmbeddedServer(tmp_path / "demo").stop()


@pytest.mark.slow
def test_demo_ships_three_tasks_with_cross_family_review(demo_dir: Path) -> None:
    lines: list[str] = []
    code = run_demo(demo_dir, delay=0.5, log=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "shipped (3):" in text
    assert "cross-family review: 3/3 shipped tasks reviewed by a different family" in text
    assert "cross-maker review: 3/3 shipped tasks reviewed by a different maker" in text
    assert "implemented=opencode+qwen (alibaba) reviewed=" in text
    assert "stopped its PostgreSQL" in text
    assert not EmbeddedServer(demo_dir).status().running  # `db stop` is not needed after
    assert "two reviewers of different makers hold reviews at this instant" in text
    hub = demo_dir / "hub.git"
    # the swarm kept the hub's resident gate (ADR 0020): it judged the pushes, then went
    assert f"gate: serving the pushes of {hub.resolve()}" in text
    assert sum("gate: push accepted in" in line for line in lines) >= 6  # 3 tasks, 2 pushes+
    assert not resident.socket_path(hub).exists()
    merges = git(
        hub,
        "log",
        "--first-parent",
        "--merges",
        "--format=%(trailers:key=Ainarres-Task,valueonly)",
        "refs/heads/main",
    ).split()
    assert len(merges) == 3
    for module in ("sentences", "vocabulary", "longest"):
        assert git(hub, "show", f"refs/heads/main:sandbox/{module}.py")
        assert git(hub, "show", f"refs/heads/main:tests/test_{module}.py")
    # and it can be run again
    assert run_demo(demo_dir, delay=0.0, log=lines.append) == 0
