"""What every command shares: settings, connections, and the CLI agent's held epochs."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import click

from ainarres.cli.render import emit_json, finish
from ainarres.config import AGENT_ENV, FAMILY_ENV, Settings
from ainarres.errors import AinarresError, BadInput
from ainarres.store import Store, agent_name, family_name

# The board (psycopg, pydantic) is imported by the methods that connect: a command's
# --help, and the CLI's start, never pay for it.
if TYPE_CHECKING:
    from ainarres.board.db import Connection
    from ainarres.board.verbs import Agent
    from ainarres.models import Outcome

FAMILY_OPTION = click.option(
    "--family",
    envvar=FAMILY_ENV,
    help=f"Act as this family, with its own credential (or ${FAMILY_ENV}).",
)
AGENT_OPTION = click.option(
    "--agent",
    "agent_name",
    envvar=AGENT_ENV,
    help=f"Name of this running instance of the family (or ${AGENT_ENV}); default cli@HOST.",
)
EPOCH_OPTION = click.option(
    "--epoch",
    type=click.IntRange(0, 2**63 - 1),
    help="Claim epoch (fencing token); default: the one `next` recorded.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@dataclass
class Ctx:
    settings: Settings
    verbose: bool

    @contextmanager
    def operator(self) -> Iterator[Connection]:
        from ainarres.board.db import connect

        with connect(self.settings) as conn:
            yield conn

    @contextmanager
    def reader(self, family: str | None) -> Iterator[Connection]:
        """Reads go through the family's own role when one is given, else the operator's."""
        from ainarres.board.db import connect

        with connect(self.settings, None if family is None else family_name(family)) as conn:
            yield conn

    @contextmanager
    def agent(self, family: str | None, name: str | None) -> Iterator[tuple[Agent, AgentState]]:
        """An agent of `family` on the family's own connection (registered on first use)."""
        from ainarres.board.db import connect
        from ainarres.board.verbs import Agent

        family, name = acting_as(family, name)
        with connect(self.settings, family) as conn:
            yield Agent.start(conn, name), AgentState(self.settings.state_dir, family, name)

    def act(
        self, family: str | None, name: str | None, fn: Callable[[Agent, AgentState], Outcome]
    ) -> Outcome:
        """Run one verb as an agent in one transaction: a refusal leaves no trace, not even the
        agent's registration or its last-seen time."""
        from ainarres.board.db import connect
        from ainarres.board.verbs import act_atomically

        family, name = acting_as(family, name)
        state = AgentState(self.settings.state_dir, family, name)
        with connect(self.settings, family) as conn:
            return act_atomically(conn, name, lambda agent: fn(agent, state))

    def task_epoch(
        self, conn: Connection, state: AgentState, ref: str, epoch: int | None
    ) -> tuple[UUID, int]:
        from ainarres.board.reads import resolve_task

        task = resolve_task(conn, ref)
        if epoch is None:
            epoch = state.epoch_of(task)
        if epoch is None:
            raise BadInput(
                f"agent {state.agent} holds no recorded claim of {ref}; claim it with "
                "`ainarres next` or pass --epoch"
            )
        return task, epoch


def acting_as(family: str | None, name: str | None) -> tuple[str, str]:
    if not family:
        raise BadInput(f"this command acts as a family: pass --family NAME or set {FAMILY_ENV}")
    return family_name(family), agent_name(name or f"cli@{socket.gethostname()}")


class AgentState:
    """The epochs this CLI agent was handed by `next`: its fencing tokens between commands."""

    def __init__(self, state_dir: Path, family: str, agent: str) -> None:
        self.agent = agent
        self.path = Store(state_dir).agent_state(family, agent)

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise AinarresError(f"agent state {self.path} is damaged; remove it") from None
        return {str(k): int(v) for k, v in data.get("held", {}).items()}

    def epoch_of(self, task: UUID) -> int | None:
        return self._load().get(str(task))

    def remember(self, task: UUID, epoch: int) -> None:
        held = self._load()
        held[str(task)] = epoch
        self._save(held)

    def forget(self, task: UUID) -> None:
        held = self._load()
        if held.pop(str(task), None) is not None:
            self._save(held)

    def _save(self, held: dict[str, int]) -> None:
        from ainarres.credentials import ensure_private_dir

        ensure_private_dir(self.path.parent)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"held": held}))
        os.replace(tmp, self.path)


pass_ctx = click.make_pass_decorator(Ctx)


@dataclass
class Said:
    """What a held verb prints beyond its outcome: a text line, JSON fields, a warning."""

    text: str | None = None
    fields: dict[str, object] | None = None
    warning: str | None = None


def held_verb(
    ctx: Ctx,
    family: str | None,
    agent_name: str | None,
    task_ref: str,
    epoch: int | None,
    as_json: bool,
    act: Callable[[Agent, UUID, int, Said], Outcome],
    forget: bool = True,
) -> None:
    """Run a verb on a held task as one transaction, forget the claim when it ends, and
    print the outcome (exiting with its code). `act` may fill `Said` with what to show."""
    held: list[tuple[UUID, AgentState]] = []
    said = Said()

    def run(agent: Agent, state: AgentState) -> Outcome:
        task, ep = ctx.task_epoch(agent.conn, state, task_ref, epoch)
        held.append((task, state))
        return act(agent, task, ep, said)

    out = ctx.act(family, agent_name, run)
    if forget and held and (out.ok or out.outcome == "lease_lost"):
        task, state = held[0]
        state.forget(task)
    if out.ok and said.warning:
        click.echo(f"ainarres: warning: {said.warning}", err=True)
    if as_json and said.fields:
        emit_json({**out.model_dump(mode="json"), **said.fields})
        finish(out, False, None, quiet=True)
    finish(out, as_json, said.text if out.ok else None)


def held_options(fn: Callable[..., None]) -> Callable[..., None]:
    """The options every verb on a held task takes: TASK, --family, --agent, --epoch, --json."""
    for deco in (
        pass_ctx,
        JSON_OPTION,
        EPOCH_OPTION,
        AGENT_OPTION,
        FAMILY_OPTION,
        click.argument("task_ref", metavar="TASK"),
    ):
        fn = deco(fn)
    return fn


def new_passphrase(env_var: str, label: str) -> str:
    """A new passphrase: from the file named by `env_var` (automation, weaker), else typed
    twice on the terminal."""
    from ainarres.credentials import passphrase_from_file

    from_file = passphrase_from_file(env_var)
    if from_file is not None:
        return from_file
    if not sys.stdin.isatty():
        raise BadInput(f"no terminal to ask for the passphrase; set {env_var}")
    return str(click.prompt(label, hide_input=True, confirmation_prompt=True, err=True))
