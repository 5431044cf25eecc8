"""`ainarres demo`: the federated run of the seed article, start to finish, on this machine.

One designer family, one implementer family with two instances, two reviewer families from
different makers, one integrator. The agents are scripted (no model is reachable here) but
everything else is real: an embedded PostgreSQL with scram logins per family, a hub whose
gate checks every push, signed pushes, real commits of real code and tests, the checks of
sandbox-repo run on each merge, and one signed push of main by the integrator.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ainarres import project, report
from ainarres.agents import config as agent_config
from ainarres.agents import sandbox
from ainarres.agents.swarm import Swarm
from ainarres.board import admin, migrate, reads
from ainarres.board.db import open_connection, operator_conninfo
from ainarres.board.embedded import EmbeddedServer
from ainarres.cli.render import age
from ainarres.config import Settings
from ainarres.git import clone as mirrors
from ainarres.git.layout import MAIN_REF
from ainarres.integrate.run import Options, integrate

DESIGNER = ("claude-code+opus", "claude-code", "opus")
IMPLEMENTER = ("opencode+qwen", "opencode", "qwen")
REVIEWERS = (
    ("grok+grok-build", "grok", "grok-build"),
    ("claude-code+sonnet", "claude-code", "sonnet"),
)
INTEGRATOR = ("person+integrator", "person", "human")
BRIEF = (
    "Add three text statistics to the sandbox",
    "Count sentences, measure the vocabulary, and find the longest words; each with tests.",
)
TASK_COUNT = 3


def sandbox_repo() -> Path:
    """sandbox-repo/, shipped in the wheel or beside the source checkout."""
    shipped = Path(__file__).with_name("sandbox-repo")
    return shipped if shipped.is_dir() else Path(__file__).resolve().parents[2] / "sandbox-repo"


def fresh(state_dir: Path, log: Callable[[str], None]) -> None:
    if state_dir.exists():
        EmbeddedServer(state_dir).stop()
        shutil.rmtree(state_dir)
        log(f"demo: removed the previous run in {state_dir}")


@dataclass(frozen=True)
class Seat:
    """A family of a demo: who it is, what it may do, how many run, how its tool starts."""

    name: str
    tool: str
    model: str
    roles: tuple[str, ...]
    instances: int = 1
    tool_args: tuple[str, ...] = ()  # after `-m ainarres.agents.scripted`, before the role
    maker: str | None = None  # None: the board's default for the tool


SEATS = (
    Seat(*DESIGNER, roles=("designer",)),
    Seat(*IMPLEMENTER, roles=("implementer",), instances=2),
    Seat(*REVIEWERS[0], roles=("reviewer",)),
    Seat(*REVIEWERS[1], roles=("reviewer",)),
)


def write_config(state_dir: Path, seats: tuple[Seat, ...] = SEATS) -> Path:
    """The demo's ainarres.toml: every family driven by the scripted stand-ins."""
    lines = []
    for seat in seats:
        command = [sys.executable, "-m", "ainarres.agents.scripted", *seat.tool_args]
        lines += [f'[families."{seat.name}"]', 'adapter = "script"', f'model = "{seat.model}"',
                  f"roles = {json.dumps(list(seat.roles))}", f"instances = {seat.instances}",
                  "timeout = 120", 'env = ["AINARRES_SCRIPT_DELAY"]',
                  f"command = {json.dumps(command)}", ""]  # fmt: skip
    path = state_dir / "ainarres.toml"
    path.write_text("\n".join(lines))
    agent_config.load(path)  # the demo's own config passes the same validation as anyone's
    return path


def wire(settings: Settings, passphrase: str, log: Callable[[str], None],
         seats: tuple[Seat, ...] = SEATS) -> None:  # fmt: skip
    """A person's setup: the board, the families with their keys and roles (the integrator's
    key protected by `passphrase`), and the hub made from sandbox-repo."""
    with open_connection(operator_conninfo(settings)) as conn:
        migrate.migrate(conn)
        everyone = (*seats, Seat(*INTEGRATOR, roles=("integrator",)))
        for seat in everyone:
            out = admin.add_family(conn, settings, seat.name, seat.tool, seat.model, seat.maker)
            assert out.ok, out.message
            secret = passphrase if seat.name == INTEGRATOR[0] else None
            project.ensure_family_key(settings, seat.name, secret)
        project.require_protected_integrator_key(settings, INTEGRATOR[0])
        for seat in everyone:
            for role in seat.roles:
                assert admin.grant(conn, seat.name, role).ok
        log(f"demo: a person wired {len(everyone)} families: " + "; ".join(
            f"{'/'.join(s.roles)} {s.name}" + (f" ({s.instances} instances)"
                                                if s.instances > 1 else "")
            for s in everyone))  # fmt: skip
        hub = project.init_hub(conn, settings, sandbox_repo(), None)
        log(f"demo: hub made from sandbox-repo at {hub}, gate installed and bound to the board")


def _brief(settings: Settings, log: Callable[[str], None]) -> None:
    with open_connection(operator_conninfo(settings)) as conn:
        brief = admin.brief(conn, *BRIEF)
        assert brief.ok and brief.task is not None
        log(f"demo: brief {brief.task.short_id} submitted: {BRIEF[0]}")


@dataclass(frozen=True)
class _Look:
    """One look at the board: its text, what moved, and whether the brief is worked off."""

    text: str
    shape: str
    reviewers: int  # distinct families holding a review right now
    settled: bool  # every task designed and past review (or blocked for a person)


def _look(settings: Settings) -> _Look:
    with open_connection(operator_conninfo(settings)) as conn:
        snap = reads.board(conn)
    counts = {s.stage: s.tasks + s.blocked for s in snap.stages}
    active = [f"- {a.short_id} [{a.label}] {a.family} age {age(a.age_seconds)}"
              for a in snap.active]  # fmt: skip
    text = f"active ({len(snap.active)}):" + ("\n" + "\n".join(active) if active else "")
    # Ages change every second; the demo prints the board when who-holds-what changes.
    shape = ";".join(f"{a.short_id}{a.label}{a.family}" for a in snap.active)
    reviewing = {a.family for a in snap.active if a.label == "reviewing"}
    waiting = sum(counts.get(stage, 0) for stage in ("brief", "implement", "review"))
    settled = counts.get("designed", 0) >= 1 and waiting == 0 and not snap.blocked
    return _Look(text, shape, len(reviewing), settled)


def run_demo(
    state_dir: Path,
    delay: float = 1.5,
    log: Callable[[str], None] = print,
    timeout: float = 120.0,
    keep_running: bool = False,
) -> int:
    """Run the demo; 0 when 3 tasks shipped through the gate with 3/3 cross-family review."""
    started = time.monotonic()
    state_dir = state_dir.absolute()
    fresh(state_dir, log)
    settings = Settings(state_dir=state_dir, database_url=None)
    EmbeddedServer(state_dir).ensure_running()  # the demo's own `ainarres init`
    log(f"demo: embedded PostgreSQL under {state_dir} (scram logins, unix socket)")
    # The integrator's key is passphrase-protected, as always; the demo plays the person
    # typing it, so the passphrase lives only in this process's memory.
    passphrase = secrets.token_urlsafe(16)
    wire(settings, passphrase, log)
    _brief(settings, log)
    reason = sandbox.unavailable_reason()
    if reason:
        log(f"demo: NOTICE: the scripted agents run UNSANDBOXED ({reason})")
    else:
        log("demo: each agent's tool runs in a bubblewrap sandbox")
    cfg_path = write_config(state_dir)
    crowd = Swarm(settings, cfg_path, agent_config.load(cfg_path), sandbox=reason is None,
                  env={**os.environ, "AINARRES_SCRIPT_DELAY": str(delay)},
                  gate=project.local_hub_dir(settings),
                  log=lambda line: log(f"  {line}"))  # fmt: skip
    crowd.start()
    seen_pair, last = False, ""
    try:
        while time.monotonic() - started < timeout:
            look = _look(settings)
            if look.reviewers >= 2 and not seen_pair:
                seen_pair = True
                log(
                    "demo: two reviewers of different makers hold reviews at this instant:\n"
                    + look.text
                )
            elif look.shape != last:
                log("board: " + look.text.replace("\n", "\n       "))
            last = look.shape
            if look.settled:
                break
            crowd.tend()
            if not crowd.running():
                log("demo: every agent process has exited; stopping early")
                break
            time.sleep(0.2)
    finally:
        crowd.stop()
    log("demo: the swarm stopped; a person starts the integrator")
    options = Options(family=INTEGRATOR[0], agent="integrate@demo", passphrase=passphrase)
    results = integrate(settings, options,
                        progress=lambda line: log(f"  integrate: {line}"))  # fmt: skip
    with open_connection(operator_conninfo(settings)) as conn:
        built = report.build(conn)
    log("\n" + report.as_text(built))
    hub = project.require_hub(settings)
    log(f"\nthe hub's main ({hub}), newest first:")
    newest = mirrors.first_parent_log(hub.require_local("the demo"), MAIN_REF, 4)
    log("\n".join(f"  {line}" for line in newest))
    log(f"\n{len(results)} task(s) integrated; the demo took {time.monotonic() - started:.1f} s")
    ok = len(built.shipped) == TASK_COUNT and built.cross_maker == TASK_COUNT
    if not seen_pair:
        log("demo: note: the two reviewers did not overlap this time")
    if keep_running:
        log(
            f"demo: its PostgreSQL keeps running; look around with `ainarres --state-dir "
            f"{state_dir} board`, stop it with `ainarres --state-dir {state_dir} db stop`"
        )
    else:
        EmbeddedServer(state_dir).stop()
        log(f"demo: stopped its PostgreSQL (the board stays in {state_dir}; "
            f"`ainarres --state-dir {state_dir} db start` brings it back)")  # fmt: skip
    return 0 if ok else 1
