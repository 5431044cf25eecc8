"""`ainarres mcp` driven by the MCP SDK's own client over stdio, as two families: a task
goes next -> push -> done, a review goes review_show -> annotate -> approve; refusals come
back as the board's outcomes and change nothing; malformed calls are refused."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from boardenv import must
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from scenario import DESIGNER, IMPLEMENTER, REVIEWER, Project

from ainarres.board import reads

Call = Callable[[str, dict[str, Any]], Awaitable[tuple[bool, Any]]]


def server(proj: Project, family: str, agent: str) -> StdioServerParameters:
    env = {**os.environ, "AINARRES_HOME": str(proj.board.settings.state_dir),
           "AINARRES_DATABASE_URL": proj.board.url}  # fmt: skip
    return StdioServerParameters(command=sys.executable, env=env,
                                 args=["-m", "ainarres", "mcp", "--family", family,
                                       "--agent", agent])  # fmt: skip


def session(proj: Project, family: str, agent: str,
            body: Callable[[Call, list[str]], Awaitable[None]]) -> None:  # fmt: skip
    """Run `body` with a call function and the tool names, on one server of `family`."""

    async def main() -> None:
        async with Client(server(proj, family, agent)) as client:
            names = [t.name for t in (await client.list_tools()).tools]

            async def call(name: str, args: dict[str, Any]) -> tuple[bool, Any]:
                result = await client.call_tool(name, args)
                if result.is_error:  # the SDK says "Error executing tool NAME: " first
                    return False, " ".join(getattr(c, "text", "") for c in result.content)
                return True, result.structured_content

            await body(call, names)

    asyncio.run(main())


def test_a_task_and_its_review_through_mcp_as_two_families(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("add a greeting").task)
    done: dict[str, Any] = {}

    async def implementer(call: Call, names: list[str]) -> None:
        assert {"next", "push", "done", "heartbeat", "note", "annotate", "approve", "board",
                "report", "review_show", "return_task", "task"} <= set(names)  # fmt: skip
        ok, claimed = await call("next", {})
        assert ok and claimed["outcome"] == "ok", claimed
        assert claimed["task"]["id"] == str(task.id) and claimed["worktree"]
        Path(claimed["worktree"], "greeting.txt").write_text("hello\n")
        ok, pushed = await call("push", {"task": task.short_id, "message": "Add a greeting"})
        assert ok and pushed["branch"] == task.branch, pushed
        assert (await call("note", {"task": task.short_id, "body": "pushed"}))[0]
        ok, finished = await call("done", {"task": task.short_id})
        assert ok and finished["task"]["stage"] == "review", finished
        done["head"] = pushed["commit"]
        # Nothing more to do: an outcome, not an error.
        ok, empty = await call("next", {})
        assert ok and empty["outcome"] == "empty"

    session(proj, IMPLEMENTER, "mcp-impl", implementer)
    assert proj.hub_ref(f"refs/heads/{task.branch}") == done["head"]

    async def reviewer(call: Call, names: list[str]) -> None:
        ok, claimed = await call("next", {"role": "reviewer"})
        assert ok and claimed["task"]["id"] == str(task.id), claimed
        ok, shown = await call("review_show", {"task": task.short_id})
        assert ok and [f["path"] for f in shown["files"]] == ["greeting.txt"], shown
        ok, noted = await call("annotate", {"task": task.short_id, "file": "greeting.txt",
                                            "line": 1, "body": "a warm line",
                                            "severity": "nit"})  # fmt: skip
        assert ok and noted.get("note_problem") is None, noted
        ok, approved = await call("approve", {"task": task.short_id, "reason": "fine"})
        assert ok and approved["task"]["stage"] == "integrate", approved
        ok, board = await call("board", {})
        assert ok and "stages" in board

    session(proj, REVIEWER, "mcp-rev", reviewer)
    with proj.board.operator() as conn:
        [review] = reads.reviews(conn, task.id)
        annotations = reads.annotations_of(conn, task.id)
    assert (review.verdict, review.family, review.commit) == ("approve", REVIEWER, done["head"])
    assert [(a.file, a.line, a.body) for a in annotations] == [("greeting.txt", 1, "a warm line")]


def test_refusals_are_the_boards_outcomes_and_change_nothing(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("not yours").task)
    holder = proj.agent(IMPLEMENTER, "someone-else")
    assert holder.claim_next().ok
    before = proj.board.snapshot()

    async def body(call: Call, names: list[str]) -> None:
        # A role the family does not hold: the board's own refusal.
        ok, said = await call("next", {"role": "reviewer"})
        assert not ok and f"not_allowed: family {IMPLEMENTER} holds no" in said, said
        # A task another agent holds.
        ok, said = await call("heartbeat", {"task": task.short_id})
        assert not ok and "lease_lost: " in said and "not held by this agent" in said, said
        ok, said = await call("approve", {"task": task.short_id})
        assert not ok and "lease_lost" in said
        # Malformed calls: no such task, a bad id, a wrong type, an unknown tool.
        ok, said = await call("task", {"task": "zz!"})
        assert not ok and "malformed task id" in said, said
        ok, said = await call("task", {"task": "ffff"})
        assert not ok and "no task ending in ffff" in said, said
        ok, said = await call("annotate", {"task": task.short_id, "file": "x", "line": "one",
                                           "body": "b"})  # fmt: skip
        assert not ok and "line" in said
        ok, said = await call("annotate", {"task": task.short_id, "file": "x", "line": 1,
                                           "body": "b", "side": "middle"})  # fmt: skip
        assert not ok and "side" in said
        ok, said = await call("drop_tables", {})
        assert not ok and "Unknown tool" in said

    session(proj, IMPLEMENTER, "mcp-impl", body)
    after = proj.board.snapshot()
    # The server's agent registered itself (agents); nothing else moved.
    assert sorted(r[2] for r in after.pop("agents")) == ["a1", "mcp-impl", "someone-else"]
    before.pop("agents")
    assert after == before
