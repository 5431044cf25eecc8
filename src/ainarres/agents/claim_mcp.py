"""A task-scoped MCP endpoint for one claim, served by the runner (the trusted side) to
the tool in its sandbox (issue 16, part 2).

The sandbox refuses unix sockets, so the endpoint is a pair of FIFOs in the job folder,
`mcp/to-board` and `mcp/from-board`. The runner makes and opens both before the tool
starts and never opens them by name again (the tool may write its job folder, and could
swap a name for a link). Inside the sandbox the tool's MCP client starts
`python -m ainarres.agents.mcp_relay`, which copies its stdio to and from the FIFOs; a
client may come and go (one relay after another), the session stays.

The tools are the claim's verbs on the claim's one task, with no credential crossing into
the sandbox (the runner's own agent acts): a reviewer may `annotate`, `approve` and
`return_task`; an implementer may `note` and say `done` (the runner commits, pushes and
hands the task on when the tool exits, as without MCP). A tool naming another task is
refused. Once a verdict is given, or when the claim ends, every tool refuses; the runner
then closes its end and the session ends with the relay.

A verdict is taken, not given, while the tool runs: the runner gives it when the tool has
exited, as it would a result file's, once it has recorded the run's usage (a verdict ends
the claim, and with it what the claim may still record). Annotations land at once.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import AinarresError
from ainarres.models import Outcome, Task
from ainarres.review import service as reviews

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

FOLDER = "mcp"
TO_BOARD = "to-board"
FROM_BOARD = "from-board"
Role = Literal["reviewer", "implementer", "designer"]


@dataclass
class Said:
    """What the tool said through the endpoint, for the runner to act on after it exits."""

    verdict: tuple[reviews.Verdict, str] | None = None  # a reviewer's, with its reason
    done: bool = False  # an implementer said it is done
    notes: list[str] = field(default_factory=list)


#: the longest message a tool may send, in characters: a longer line ends its session, so
#: that a tool cannot make the runner (the trusted side) hold an endless line in memory
MAX_LINE = 4 << 20


class _CappedLines(io.TextIOWrapper):
    """The tool's messages, a line at a time, each at most MAX_LINE characters; past that,
    the end of the session (`overflowed` says why)."""

    overflowed = False

    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]  # as typeshed
        del size
        line = super().readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            self.overflowed = True
            return ""
        return line


#: the roles whose claims have tools here (a designer's has none)
SERVED: tuple[Role, ...] = ("reviewer", "implementer")


def relay_command(job_dir: Path) -> tuple[str, ...]:
    """What a tool inside the sandbox runs as the claim's MCP server (stdio): the relay,
    under the Python that runs ainarres (the sandbox shows it read-only)."""
    return (sys.executable, "-m", "ainarres.agents.mcp_relay", str(job_dir))


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path, 0o600)


def _opened_fifo(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise AinarresError(f"{path} is not the FIFO the runner made")
    return fd


class ClaimEndpoint:
    """Serve the claim's tools until `close()`; `said` holds what the tool did."""

    def __init__(self, settings: Settings, agent: Agent, task: Task, epoch: int, role: Role,
                 job_dir: Path, lock: threading.Lock | None = None) -> None:  # fmt: skip
        self.settings, self.agent, self.task, self.epoch, self.role = (
            settings, agent, task, epoch, role)  # fmt: skip
        self.folder = job_dir / FOLDER
        self.said = Said()
        self._lock = lock or threading.Lock()
        self._open = True
        self._thread: threading.Thread | None = None
        self._fds: list[int] = []
        self._keep = -1
        self._incoming: _CappedLines | None = None

    # --- the tools ------------------------------------------------------------------------

    def _check(self, task: str | None) -> None:
        if not self._open:
            raise _refused("lease_lost: this claim is over; nothing more can be done here")
        if task is not None and task not in (str(self.task.id), self.task.short_id,
                                             self.task.short_id.lstrip("…")):  # fmt: skip
            raise _refused(f"not_allowed: this endpoint serves task {self.task.short_id} only")

    def _verdict(self, verdict: reviews.Verdict, reason: str) -> dict[str, Any]:
        reason = reason.strip()
        if verdict == "return" and not reason:
            raise _refused("bad_input: say what must change (reason) when returning a task")
        self.said.verdict = (verdict, reason or "approved")
        self._open = False  # the review is over: nothing more here
        word = "approval" if verdict == "approve" else "return"
        return {"outcome": "ok", "message": f"your {word} of {self.task.short_id} is taken: "
                "ainarres gives it when you exit; nothing more can be done here"}  # fmt: skip

    def build(self) -> MCPServer:
        from mcp.server.mcpserver import MCPServer

        server = MCPServer(
            "ainarres-claim",
            instructions=(
                f"Task {self.task.short_id} ({self.role}): {self.task.title}. "
                "These tools act on this one task only."
            ),  # fmt: skip
            log_level="WARNING",
        )
        if self.role == "reviewer":

            @server.tool()
            def annotate(file: str, line: int, body: str, side: Literal["new", "old"] = "new",
                         severity: Literal["blocker", "major", "minor", "nit"] = "major",
                         task: str | None = None) -> dict[str, Any]:  # fmt: skip
                """Annotate a line of this review's diff (side new: the head's numbering)."""
                with self._acting(task):
                    remark = reviews.Remark(file, line, side, severity, body)
                    done = reviews.annotate(self.settings, self.agent, self.task, self.epoch,
                                            remark)  # fmt: skip
                    return _answer(done.outcome, note_problem=done.note_problem)

            @server.tool()
            def approve(reason: str = "", task: str | None = None) -> dict[str, Any]:
                """Approve this review at the head you were given."""
                with self._acting(task):
                    return self._verdict("approve", reason)

            @server.tool()
            def return_task(reason: str, task: str | None = None) -> dict[str, Any]:
                """Send the task back to its implementer, saying what must change."""
                with self._acting(task):
                    return self._verdict("return", reason)

        if self.role == "implementer":

            @server.tool()
            def note(body: str, task: str | None = None) -> dict[str, Any]:
                """Add a note to this task's log."""
                with self._acting(task):
                    self.said.notes.append(body)
                    return _answer(self.agent.note(self.task.id, self.epoch, body))

            @server.tool()
            def done(task: str | None = None) -> dict[str, Any]:
                """Say the work in the worktree is finished: when you exit, the runner
                commits it, pushes it and hands the task on to review."""
                with self._acting(task):
                    self.said.done = True
                    return {"outcome": "ok", "message": "the runner hands the task on when "
                            "you exit"}  # fmt: skip

        return server

    # --- serving --------------------------------------------------------------------------

    def start(self) -> Path:
        """Make and open the FIFOs, then serve in a thread; returns the folder."""
        import anyio
        from mcp.server.stdio import stdio_server

        self.folder.mkdir(mode=0o700, exist_ok=True)
        to_board, from_board = self.folder / TO_BOARD, self.folder / FROM_BOARD
        _fifo(to_board)
        _fifo(from_board)
        reading = _opened_fifo(to_board, os.O_RDONLY | os.O_NONBLOCK)
        # A write end of our own keeps EOF away while relays come and go; closing it (with
        # every relay gone) ends the session.
        self._keep = _opened_fifo(to_board, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(reading, True)
        writing = _opened_fifo(from_board, os.O_RDWR)
        self._fds = [reading, writing]
        self._incoming = _CappedLines(open(reading, "rb", closefd=False), encoding="utf-8")  # noqa: SIM115
        server = self.build()

        async def serve() -> None:
            assert self._incoming is not None
            fin = anyio.wrap_file(self._incoming)
            fout = anyio.wrap_file(open(writing, "w", encoding="utf-8", closefd=False))  # noqa: SIM115
            low = server._lowlevel_server  # noqa: SLF001 - the SDK's own stdio path does this
            async with stdio_server(fin, fout) as (receive, send):
                await low.run(receive, send, low.create_initialization_options())

        self._thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True,
                                        name=f"mcp-{self.task.short_id}")  # fmt: skip
        self._thread.start()
        return self.folder

    def close(self) -> None:
        """End the claim's endpoint: every tool refuses from now on, the FIFOs go, and the
        session ends once no relay holds them."""
        self._open = False
        for name in (TO_BOARD, FROM_BOARD):
            (self.folder / name).unlink(missing_ok=True)
        if self._keep >= 0:
            os.close(self._keep)
            self._keep = -1
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                print(f"ainarres: the MCP endpoint of {self.task.short_id} did not stop",
                      file=sys.stderr)  # fmt: skip
        if self._incoming is not None and self._incoming.overflowed:
            print(f"ainarres: the tool of {self.task.short_id} sent an MCP message over "
                  f"{MAX_LINE} characters; its session was ended", file=sys.stderr)  # fmt: skip
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    class _Acting:
        def __init__(self, endpoint: ClaimEndpoint, task: str | None) -> None:
            self.endpoint, self.task = endpoint, task

        def __enter__(self) -> None:
            self.endpoint._lock.acquire()  # noqa: SLF001
            try:
                self.endpoint._check(self.task)  # noqa: SLF001
            except BaseException:
                self.endpoint._lock.release()  # noqa: SLF001
                raise

        def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
            self.endpoint._lock.release()  # noqa: SLF001
            if isinstance(exc, AinarresError):
                raise _refused(exc.message) from None

    def _acting(self, task: str | None) -> ClaimEndpoint._Acting:
        return ClaimEndpoint._Acting(self, task)


def _refused(message: str) -> Exception:
    """The MCP SDK's tool error (imported here: the SDK costs ~0.5 s to import, paid only
    by a runner whose tool speaks MCP)."""
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(message)


def _answer(out: Outcome, **extra: object) -> dict[str, Any]:
    if not out.ok:
        raise _refused(f"{out.outcome}: {out.message}")
    data: dict[str, Any] = out.model_dump(mode="json", exclude_none=True)
    return {**data, **{k: v for k, v in extra.items() if v is not None}}
