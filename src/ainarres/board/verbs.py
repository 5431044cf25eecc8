"""The agent's verbs: what a family's running instance may do, connected as the family.

Every call is one function on the server, so one transaction; the family is the
connection's authenticated role, never an argument.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg

from ainarres.board.db import Connection, translate
from ainarres.board.queries import q
from ainarres.errors import AinarresError
from ainarres.models import Outcome

CHANNEL = "ainarres_board"


@contextmanager
def translated(conn: Connection, what: str) -> Iterator[None]:
    """psycopg's errors as ours (board.db.translate): a lost connection is Unavailable, so
    the caller may reconnect and retry."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, conn, what) from None


def call(conn: Connection, name: str, /, **params: Any) -> Outcome:
    """Run a verb's named query and parse its outcome; database errors become AinarresError
    (Unavailable when the connection is lost)."""
    with translated(conn, name):
        row = conn.execute(q(name), params).fetchone()
    assert row is not None
    return Outcome.model_validate(row["r"])


def _roles(role: str | Sequence[str] | None) -> list[str] | None:
    """One role, several, or any (None), as the verbs' text[] parameter."""
    if role is None:
        return None
    return [role] if isinstance(role, str) else list(role)


class Agent:
    """A running instance of a family, on a connection made with the family's credential."""

    def __init__(self, conn: Connection, agent_id: UUID, name: str, family: str) -> None:
        self.conn = conn
        self.id = agent_id
        self.name = name
        self.family = family

    @classmethod
    def start(cls, conn: Connection, name: str) -> Agent:
        """Register (or re-join as) agent `name` of the connection's family."""
        out = call(conn, "agent_start", name=name)
        if not out.ok or out.agent is None:
            raise AinarresError(out.message, exit_code=2 if out.outcome == "invalid" else 1)
        return cls(conn, out.agent.id, name, out.agent.family)

    def claim_next(
        self, role: str | Sequence[str] | None = None, lease_seconds: int | None = None
    ) -> Outcome:
        """The best task whose next step this family may take (in one of `role`, if given).
        `lease_seconds` asks for a shorter lease than the stage's (a runner that
        heartbeats asks for a heartbeat window)."""
        if lease_seconds is None:
            return call(self.conn, "claim_next", agent=self.id, roles=_roles(role))
        return call(self.conn, "claim_next_leased", agent=self.id, roles=_roles(role),
                    lease=lease_seconds)  # fmt: skip

    def wait_for_claim(
        self,
        timeout: float | None = None,
        poll: float = 5.0,
        role: str | Sequence[str] | None = None,
        lease_seconds: int | None = None,
    ) -> Outcome:
        """Claim, or sleep on LISTEN/NOTIFY until something becomes claimable.

        The poll is a slow backstop for what sends no notification: a lease expiring.
        """
        with translated(self.conn, "next --wait"):
            return self._wait_for_claim(timeout, poll, role, lease_seconds)

    def _wait_for_claim(
        self,
        timeout: float | None,
        poll: float,
        role: str | Sequence[str] | None,
        lease_seconds: int | None,
    ) -> Outcome:
        # Notifications that arrive while a claim runs are kept by psycopg (>= 3.3) and
        # handed to the next notifies() at once, so none is lost between look and sleep.
        self.conn.execute(f"LISTEN {CHANNEL}".encode())
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                # Say we sleep before looking: a change committed after this is notified,
                # one committed before it is seen by the claim below. Nothing falls between.
                self.conn.execute(q("wait_begin"), {"agent": self.id})
                out = self.claim_next(role, lease_seconds)
                if out.outcome != "empty":
                    return out
                left = poll if deadline is None else min(poll, deadline - time.monotonic())
                if left <= 0:
                    return out
                for _ in self.conn.notifies(timeout=left, stop_after=1):
                    pass
        finally:
            if not (self.conn.broken or self.conn.closed):
                self.conn.execute(q("wait_end"), {"agent": self.id})
                self.conn.execute(f"UNLISTEN {CHANNEL}".encode())

    def resume(self) -> Outcome:
        """Take back the tasks this agent (same family and name) still holds, re-fenced."""
        return call(self.conn, "resume", agent=self.id)

    def set_base(self, task: UUID, epoch: int, base_commit: str) -> Outcome:
        """Record where the held task's branch forked from main."""
        return call(self.conn, "set_base", agent=self.id, task=task, epoch=epoch, base=base_commit)

    def annotate(
        self, task: UUID, epoch: int, file: str, line: int, side: str, severity: str, body: str
    ) -> Outcome:
        """Annotate a line of the held review's diff (the caller checked it is in the diff)."""
        return call(
            self.conn,
            "annotate",
            agent=self.id,
            task=task,
            epoch=epoch,
            file=file,
            line=line,
            side=side,
            severity=severity,
            body=body,
        )

    def mark_sandboxed(self, sandboxed: bool) -> None:
        """Say on the board whether this agent's tool runs in the sandbox."""
        with translated(self.conn, "agent_mark"):
            self.conn.execute(q("agent_mark"), {"agent": self.id, "sandboxed": sandboxed})

    def record_usage(
        self, task: UUID, epoch: int, tokens: int | None, cost_usd: float | None, seconds: float
    ) -> Outcome:
        """What one run of the tool on a held task cost (None where the tool did not say)."""
        return call(
            self.conn,
            "record_usage",
            agent=self.id,
            task=task,
            epoch=epoch,
            tokens=tokens,
            cost=cost_usd,
            seconds=round(seconds, 3),
        )

    def heartbeat(self, task: UUID, epoch: int) -> Outcome:
        return call(self.conn, "heartbeat", agent=self.id, task=task, epoch=epoch)

    def note(self, task: UUID, epoch: int, body: str) -> Outcome:
        return call(self.conn, "note", agent=self.id, task=task, epoch=epoch, body=body)

    def advance(self, task: UUID, epoch: int, head_commit: str | None = None) -> Outcome:
        """Done: move the task along its workflow's next step and let go of it."""
        return call(
            self.conn, "advance", agent=self.id, task=task, epoch=epoch, head_commit=head_commit
        )

    def advance_and_claim(
        self,
        task: UUID,
        epoch: int,
        head_commit: str | None = None,
        role: str | Sequence[str] | None = None,
        lease_seconds: int | None = None,
    ) -> Outcome:
        """Done, and the next task, in one transaction. The outcome is the claim's (ok or
        empty), with the advance under `done`; a refused advance is returned as is. The
        claim's lease is `lease_seconds` (None: its stage's), as with `claim`."""
        roles = _roles(role)
        return call(
            self.conn,
            "advance_and_claim",
            agent=self.id,
            task=task,
            epoch=epoch,
            head_commit=head_commit,
            roles=roles,
            lease=lease_seconds,
        )

    def atomically(self, act: Callable[[], Outcome]) -> Outcome:
        """Run `act` (several verbs) in one transaction: an outcome other than ok, or an
        exception, rolls back everything it did."""
        result: list[Outcome] = []
        with self.conn.transaction():
            result.append(act())
            if not result[0].ok:
                raise psycopg.Rollback()
        return result[0]

    def return_task(
        self,
        task: UUID,
        epoch: int,
        reason: str,
        cause: str | None = None,
        detail: str | None = None,
    ) -> Outcome:
        """Send a held task back; `cause` (checks, conflict, review) is governance's evidence,
        `detail` (the checks' output, the conflicting hunks) the next claimer reads in full."""
        return call(self.conn, "return_task", agent=self.id, task=task, epoch=epoch,
                    reason=reason, cause=cause, detail=detail)  # fmt: skip

    def integrate_begin(self, pid: int, host: str, takeover: bool = False) -> Outcome:
        """Become the one integrate run (refused, naming it, while another is alive)."""
        return call(self.conn, "integrate_begin", agent=self.id, pid=pid, host=host,
                    takeover=takeover)  # fmt: skip

    def integrate_beat(self, pid: int) -> Outcome:
        return call(self.conn, "integrate_beat", agent=self.id, pid=pid)

    def integrate_end(self, pid: int) -> Outcome:
        return call(self.conn, "integrate_end", agent=self.id, pid=pid)

    def release(self, task: UUID, epoch: int) -> Outcome:
        return call(self.conn, "release", agent=self.id, task=task, epoch=epoch)

    def block(self, task: UUID, epoch: int, reason: str) -> Outcome:
        return call(self.conn, "block", agent=self.id, task=task, epoch=epoch, reason=reason)

    def create_task(
        self,
        title: str,
        body: str = "",
        *,
        priority: int = 0,
        depends_on: list[UUID] | None = None,
        parent: UUID | None = None,
        workflow: str = "dev",
    ) -> Outcome:
        """Create work; only a family holding the workflow's first step may."""
        return call(
            self.conn,
            "create_task",
            agent=self.id,
            title=title,
            body=body,
            priority=priority,
            depends_on=depends_on or [],
            parent=parent,
            workflow=workflow,
        )


def act_atomically(conn: Connection, name: str, fn: Callable[[Agent], Outcome]) -> Outcome:
    """Register agent `name` and run one verb in a single transaction; any outcome but ok
    (or an exception) rolls it all back, so a refusal leaves no trace at all."""
    result: list[Outcome] = []
    with conn.transaction():
        out = fn(Agent.start(conn, name))
        result.append(out)
        if not out.ok:
            raise psycopg.Rollback()
    return result[0]
