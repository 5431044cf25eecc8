"""`ainarres mcp`: the board's verbs as an MCP server over stdio, run as one family.

An agent tool that speaks MCP (Claude Code, Codex, Gemini CLI, opencode, ...) starts it
with `ainarres mcp --family F` and calls the same verbs the CLI offers, through the same
services: `next` claims (and prepares an implementer's worktree), `push` and `done` hand
work on, `review_show` / `annotate` / `approve` / `return_task` review, `heartbeat`, `note`,
`release`, `block` keep a claim honest, and `board`, `task`, `report` read. The family is
the one whose credential the server was started with: the database decides, never an
argument, and a refusal comes back as the board's own outcome (`not_allowed: ...`).

A tool's answer is the verb's outcome as JSON. Anything refused is a tool error whose text
starts with the outcome (`lease_lost: ...`) or says what to do; nothing is half done, as
with the CLI. stdout is the protocol: progress goes to stderr.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic_core import to_jsonable_python

from ainarres import project, report
from ainarres.board import reads
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError
from ainarres.models import Outcome, Task
from ainarres.review import render
from ainarres.review import service as reviews
from ainarres.work import claims, implement

Side = Literal["new", "old"]
Severity = Literal["blocker", "major", "minor", "nit"]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _plain(value: object) -> dict[str, Any]:
    data = to_jsonable_python(value, fallback=str)
    assert isinstance(data, dict)
    return data


class Board:
    """One agent of one family on its own connection, shared by the tools one at a time."""

    def __init__(self, settings: Settings, family: str, agent: str) -> None:
        self.settings = settings
        self.family = family
        self.agent_name = agent
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._agent: Agent | None = None

    @contextmanager
    def agent(self) -> Iterator[Agent]:
        with self._lock:
            if self._agent is None or self._conn is None or self._conn.closed:
                self._conn = open_connection(family_conninfo(self.settings, self.family))
                self._agent = Agent.start(self._conn, self.agent_name)
            try:
                yield self._agent
            except AinarresError as exc:
                raise ToolError(exc.message) from None

    def held(self, agent: Agent, ref: str) -> tuple[Task, int]:
        """The task `ref` names and the epoch of this agent's claim on it."""
        task = reads.show_task(agent.conn, reads.resolve_task(agent.conn, ref))
        if task.holder_agent != agent.id:
            who = f"{self.agent_name} of {self.family}"
            raise ToolError(f"lease_lost: {task.short_id} is not held by this agent ({who}); "
                            "claim it with next")  # fmt: skip
        return task, task.claim_epoch


def _answer(out: Outcome, **extra: object) -> dict[str, Any]:
    """The verb's outcome as the tool's answer; a refusal is a tool error naming it."""
    if not out.ok and out.outcome != "empty":
        raise ToolError(f"{out.outcome}: {out.message}")
    return {**_plain(out.model_dump(mode="json", exclude_none=True)), **_plain(extra)}


def _concluded(c: reviews.Concluded) -> dict[str, Any]:
    return _answer(c.outcome, note_problem=c.note_problem)


def build(settings: Settings, family: str, agent: str) -> MCPServer:
    """The server, its tools bound to `family`'s agent `agent`."""
    board = Board(settings, family, agent)
    server = MCPServer(
        "ainarres",
        instructions=(
            f"The ainarres board as family {family}, agent {agent}. Call next to claim "
            "work; an implementer edits the worktree it names, then push and done; a "
            "reviewer reads review_show, annotates lines, then approve or return_task. "
            "Call heartbeat while working. Refusals name the board's outcome."
        ),
        log_level="WARNING",
    )

    @server.tool()
    def next(role: str | None = None) -> dict[str, Any]:  # noqa: A001 - the verb's name
        """Claim the next task this family may do (optionally only as ROLE). An
        implementer's claim comes with its worktree's path and what came back to the task
        before (review verdicts, failed checks). `outcome: empty` when there is nothing."""
        with board.agent() as a:
            out = a.claim_next(role)
            ws = claims.prepare(settings, a, out, _stderr)
            writes = out.ok and out.task is not None and out.task.writes_branch
            fed = reads.feedback(a.conn, out.task.id) if writes and out.task else []
            return _answer(out, worktree=str(ws.path) if ws else None, feedback=fed)

    @server.tool()
    def task(task: str) -> dict[str, Any]:
        """A task by its id or the end of it (d25d): stage, holder, branch, head."""
        with board.agent() as a:
            return _plain(reads.show_task(a.conn, reads.resolve_task(a.conn, task)))

    @server.tool()
    def heartbeat(task: str) -> dict[str, Any]:
        """Extend the lease on a held task (call it while working)."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _answer(a.heartbeat(t.id, epoch))

    @server.tool()
    def note(task: str, body: str) -> dict[str, Any]:
        """Add a note to a held task's log."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _answer(a.note(t.id, epoch, body))

    @server.tool()
    def push(task: str, message: str | None = None) -> dict[str, Any]:
        """Commit the held task's worktree (with MESSAGE, when there are changes) and push
        it to the task's branch on the hub, signed, with the claim's epoch."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            layout = implement.find(settings, a, t)
            if implement.uncommitted(layout):
                implement.commit(a, t, layout, message)
            head = implement.push_head(settings, a, t, epoch, layout)
            return _answer(a.heartbeat(t.id, epoch), commit=head, branch=t.branch)

    @server.tool()
    def done(task: str, head: str | None = None, empty_reason: str | None = None
             ) -> dict[str, Any]:  # fmt: skip
        """This one is done: move a held task to its next stage. For work on a branch the
        head is the hub's branch tip (push first); a change that changes nothing needs
        EMPTY_REASON."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            if t.writes_branch and project.configured_hub(settings) is not None:
                return _answer(implement.done(settings, a, t, epoch, head, empty_reason))
            return _answer(a.advance(t.id, epoch, head))

    @server.tool()
    def release(task: str) -> dict[str, Any]:
        """Give a held task back to the queue, unchanged."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _answer(a.release(t.id, epoch))

    @server.tool()
    def block(task: str, reason: str) -> dict[str, Any]:
        """Stop work on a held task until a person unblocks it, saying why."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _answer(a.block(t.id, epoch, reason))

    @server.tool()
    def review_show(task: str) -> dict[str, Any]:
        """A task's diff (merge base with main .. head), with its annotations and rounds."""
        with board.agent() as a:
            t = reads.show_task(a.conn, reads.resolve_task(a.conn, task))
            review = reviews.load(settings, a.conn, t, family, agent)
            return _plain(render.as_json(review))

    @server.tool()
    def annotate(task: str, file: str, line: int, body: str, side: Side = "new",
                 severity: Severity = "major") -> dict[str, Any]:  # fmt: skip
        """Annotate a line of the held review's diff (side new: the head's line number)."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            remark = reviews.Remark(file, line, side, severity, body)
            return _concluded(reviews.annotate(settings, a, t, epoch, remark))

    @server.tool()
    def approve(task: str, reason: str = "") -> dict[str, Any]:
        """Approve the held review at the head that was reviewed."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _concluded(reviews.conclude(settings, a, t, epoch, "approve", reason))

    @server.tool()
    def return_task(task: str, reason: str) -> dict[str, Any]:
        """Send the held task back (from review: to its implementer), saying what must
        change."""
        with board.agent() as a:
            t, epoch = board.held(a, task)
            return _concluded(reviews.send_back(settings, a, t, epoch, reason))

    @server.tool(name="board")
    def read_board() -> dict[str, Any]:
        """The live board: stage counts and who holds what right now."""
        with board.agent() as a:
            return _plain(reads.board(a.conn))

    @server.tool(name="report")
    def read_report() -> dict[str, Any]:
        """The end-of-run report: shipped tasks, who implemented, reviewed and integrated
        each, the cross-maker review ratio."""
        with board.agent() as a:
            return _plain(report.as_json(report.build(a.conn)))

    return server


def serve(settings: Settings, family: str, agent: str) -> None:
    """Serve over stdio until the client closes it."""
    build(settings, family, agent).run("stdio")
