"""The task-scoped MCP endpoint (agents/claim_mcp.py): the claim's verbs on the claim's one
task, reached through the relay the tool starts, with the runner's agent acting; another
task refused; nothing usable once the verdict is in or the claim is over; and a real
runner whose sandboxed scripted reviewer reviews through it, with no result file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from boardenv import must
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from scenario import DESIGNER, IMPLEMENTER, REVIEWER, Project
from test_runner import SCRIPTED, _agent, _config

from ainarres.agents.claim_mcp import MAX_LINE, ClaimEndpoint
from ainarres.board import reads


def relay(job_dir: Path) -> StdioServerParameters:
    env = {**os.environ, "AINARRES_JOB_DIR": str(job_dir)}
    return StdioServerParameters(command=sys.executable, args=["-m", "ainarres.agents.mcp_relay"],
                                 env=env)  # fmt: skip


async def _calls(job_dir: Path, calls: list[tuple[str, dict[str, Any]]]
                 ) -> tuple[list[str], list[tuple[bool, str]]]:  # fmt: skip
    async with Client(relay(job_dir)) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        said = []
        for name, args in calls:
            result = await client.call_tool(name, args)
            text = " ".join(getattr(c, "text", "") for c in result.content)
            said.append((not result.is_error, text))
    return names, said


def test_the_endpoint_serves_one_claim_and_nothing_after_it(proj: Project, tmp_path: Path) -> None:
    made = must(proj.agent(DESIGNER).create_task("add one.txt").task)
    task = made.id
    impl = proj.agent(IMPLEMENTER)
    claimed = impl.claim_next()
    assert claimed.epoch is not None
    head = proj.commit_on(made.branch, "one.txt", "one\ntwo\n")
    assert proj.push(f"HEAD:refs/heads/{made.branch}", IMPLEMENTER, epoch=claimed.epoch).ok
    assert impl.advance(task, claimed.epoch, head).ok
    other = must(proj.agent(DESIGNER).create_task("another").task)
    reviewer = proj.agent(REVIEWER, "r-mcp")
    claim = reviewer.claim_next("reviewer")
    assert claim.ok and claim.task is not None and claim.epoch is not None
    assert claim.task.id == task
    job = tmp_path / "job"
    job.mkdir()
    endpoint = ClaimEndpoint(proj.board.settings, reviewer, claim.task, claim.epoch, "reviewer",
                             job)  # fmt: skip
    endpoint.start()
    try:
        names, said = asyncio.run(_calls(job, [
            ("annotate", {"file": "one.txt", "line": 2, "body": "why two?",
                          "task": other.short_id}),
            ("annotate", {"file": "one.txt", "line": 2, "body": "why two?"}),
            ("approve", {"reason": "fine"}),
            ("annotate", {"file": "one.txt", "line": 1, "body": "too late"}),
            ("return_task", {"reason": "too late"}),
        ]))  # fmt: skip
    finally:
        endpoint.close()
    assert names == ["annotate", "approve", "return_task"]
    assert said[0] == (False, said[0][1]) and "not_allowed: this endpoint serves task" in said[0][1]
    assert said[1][0] and said[2][0], said
    assert not said[3][0] and "this claim is over" in said[3][1]
    assert not said[4][0] and "this claim is over" in said[4][1]
    # The verdict is taken for the runner to give when the tool exits (jobs.finish, the
    # last test); the annotation is on the board at once.
    assert endpoint.said.verdict == ("approve", "fine") and "is taken" in said[2][1]
    with proj.board.operator() as conn:
        verdicts = [(r.round, r.verdict, r.family) for r in reads.reviews(conn, task)]
        notes = [(a.round, a.line, a.body) for a in reads.annotations_of(conn, task)]
        held = reads.show_task(conn, task)
        assert reads.show_task(conn, other.id).holder_agent is None
    assert (held.stage, held.holder_family) == ("review", REVIEWER)
    assert verdicts == [] and notes == [(1, 2, "why two?")]
    # The claim's endpoint is gone: a relay started now says so and stops.
    late = subprocess.run([sys.executable, "-m", "ainarres.agents.mcp_relay"], input="{}\n",
                          env={**os.environ, "AINARRES_JOB_DIR": str(job)}, text=True,
                          capture_output=True, timeout=30)  # fmt: skip
    assert late.returncode == 1 and "no endpoint for this claim" in late.stderr


def test_an_implementers_endpoint_has_only_note_and_done(proj: Project, tmp_path: Path) -> None:
    task = must(proj.agent(DESIGNER).create_task("write").task)
    impl = proj.agent(IMPLEMENTER)
    claim = impl.claim_next()
    assert claim.ok and claim.task is not None and claim.epoch is not None
    job = tmp_path / "job"
    job.mkdir()
    endpoint = ClaimEndpoint(proj.board.settings, impl, claim.task, claim.epoch, "implementer",
                             job)  # fmt: skip
    endpoint.start()
    try:
        names, said = asyncio.run(_calls(job, [("note", {"body": "halfway"}), ("done", {}),
                                               ("approve", {})]))  # fmt: skip
    finally:
        endpoint.close()
    assert names == ["done", "note"]
    assert said[0][0] and said[1][0] and not said[2][0] and "Unknown tool" in said[2][1]
    assert endpoint.said.done and endpoint.said.notes == ["halfway"]
    with proj.board.operator() as conn:
        kinds = [e.kind for e in reads.events(conn, task.id, None, 20)]
    assert "note" in kinds


def test_a_sandboxed_reviewer_reviews_through_the_endpoint(proj: Project, tmp_path: Path) -> None:
    cfg = _config(tmp_path, {IMPLEMENTER: ("implementer", SCRIPTED),
                             REVIEWER: ("reviewer", [*SCRIPTED, "--mcp"])})  # fmt: skip
    # the reviewer's script speaks MCP: its family says so, and only then does the runner
    # serve the claim's endpoint (the implementer's run starts none)
    cfg.write_text(cfg.read_text().replace(f'[families."{REVIEWER}"]\n',
                                           f'[families."{REVIEWER}"]\nmcp = true\n'))  # fmt: skip
    task = must(proj.agent(DESIGNER).create_task("longest", "feature: longest").task)
    for family in (IMPLEMENTER, REVIEWER):
        proc = _agent(proj, cfg, family, "--max-tasks", "1")
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
    with proj.board.operator() as conn:
        [review] = reads.reviews(conn, task.id)
        notes = reads.annotations_of(conn, task.id)
        stage = reads.show_task(conn, task.id).stage
        kinds = [(e.kind, e.family) for e in reads.events(conn, task.id, None, 50)]
    assert (review.verdict, review.family, stage) == ("approve", REVIEWER, "integrate")
    # the run's usage is on the board: recorded before the verdict ended the claim
    assert ("usage", REVIEWER) in kinds, kinds
    assert [(a.file, a.body) for a in notes] == [("sandbox/longest.py", "docstring reads well")]
    jobs = list((proj.board.settings.state_dir / "jobs").rglob("job.json"))
    reviewed = [j.parent for j in jobs if '"role": "reviewer"' in j.read_text()]
    assert reviewed and not (reviewed[0] / "result.json").exists()
    assert not list((reviewed[0] / "mcp").iterdir())  # the FIFOs went with the claim
    implemented = [j.parent for j in jobs if '"role": "implementer"' in j.read_text()]
    assert implemented and not (implemented[0] / "mcp").exists()  # no endpoint was started


def test_an_endless_line_from_the_tool_ends_its_session_not_the_runners_memory(
    proj: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile tool writes a message with no end into the endpoint: the runner reads at
    most MAX_LINE characters of it, ends the session, and says so; it does not hold 64 MiB."""
    must(proj.agent(DESIGNER).create_task("write").task)
    impl = proj.agent(IMPLEMENTER)
    claim = impl.claim_next()
    assert claim.task is not None and claim.epoch is not None
    job = tmp_path / "job"
    job.mkdir()
    endpoint = ClaimEndpoint(proj.board.settings, impl, claim.task, claim.epoch, "implementer",
                             job)  # fmt: skip
    endpoint.start()
    fd = os.open(job / "mcp" / "to-board", os.O_WRONLY)
    taken = [0]

    def flood() -> None:  # 64 MiB without a line break, as fast as the runner takes it
        chunk = b"x" * (1 << 20)
        with contextlib.suppress(OSError):  # the runner's end closes: a broken pipe
            while taken[0] < 64 << 20:
                taken[0] += os.write(fd, chunk)

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    writer.join(timeout=10)  # uncapped, the runner swallows all of it in two seconds
    stuck = writer.is_alive()
    try:
        endpoint.close()
    finally:
        writer.join(timeout=10)
        os.close(fd)
    assert stuck, taken[0]
    assert taken[0] < MAX_LINE + (8 << 20), taken[0]  # the cap, and what pipe and buffer hold
    assert "sent an MCP message over" in capsys.readouterr().err
