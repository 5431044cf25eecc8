"""The canary service: applies the review verdicts given while canaries are on, decides
each held review round, plants the seeded heads, and puts the implementer's head back after
a seeded round's verdict (ADR 0018).

It is the person's: it runs with the operator's login (the private record of what was
planted) on the hub's machine (it writes the seeded commit into the hub's objects and moves
the task's branch with a compare-and-swap). Every step is safe to repeat: the seeded
commit of a round is the same object each time (same choice, same metadata), a plan
recorded twice is one plan, and a branch already moved is left as it is. A crash leaves
the round held, so no reviewer sees it half planted, and the next pass finishes it.

Whether a round is seeded, and with what, is a pure function of the operator's seed, the
task and the round: a run is reproducible, and nothing a family can see chooses it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from ainarres import project
from ainarres.board import admin, reads
from ainarres.board.db import Connection, open_connection, operator_conninfo
from ainarres.canary import catalogue
from ainarres.canary.catalogue import Rule, Seeded
from ainarres.config import Settings
from ainarres.errors import AinarresError
from ainarres.git import clone as mirrors
from ainarres.git import seeded as seeding
from ainarres.git.diff import task_diff
from ainarres.git.layout import MAIN_REF
from ainarres.processes import failpoint
from ainarres.rows import CanaryHold, CanarySettings


@dataclass(frozen=True)
class Intake:
    """What the service did with one held round."""

    short_id: str
    round: int
    what: str  # applied | planted | unseeded | restored | skipped
    detail: str = ""

    @property
    def line(self) -> str:
        return f"{self.short_id} round {self.round}: {self.what}" + (
            f" ({self.detail})" if self.detail else ""
        )


def _draw(seed: int, task: int, round_: int, salt: str) -> int:
    digest = hashlib.sha256(f"{seed}:{task}:{round_}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_round(rate: float, seed: int, task: int, round_: int) -> bool:
    """Whether round `round_` of the task numbered `task` (its seq on the board) carries a
    canary: a draw below the rate. The same board, seed and work give the same canaries."""
    return _draw(seed, task, round_, "rate") / 2**64 < rate


def choose(found: Sequence[Seeded], seed: int, task: int, round_: int) -> Seeded | None:
    """One defect among those that fit: the kind first (every kind as likely, whatever the
    change offers most of), then the place."""
    if not found:
        return None
    kinds = sorted({s.kind for s in found})
    kind = kinds[_draw(seed, task, round_, "kind") % len(kinds)]
    places = [s for s in found if s.kind == kind]
    return places[_draw(seed, task, round_, "place") % len(places)]


def _candidates(hub: Path, rules: Sequence[Rule], head: str) -> list[Seeded]:
    """Every defect that fits the lines the change (merge base with main .. head) added."""
    diff = task_diff(hub, MAIN_REF, head, context=0)
    found: list[Seeded] = []
    for f in diff.files:
        if f.binary or f.status == "deleted":
            continue
        added = [ln.new for h in f.hunks for ln in h.lines if ln.kind == "add" and ln.new]
        text = mirrors.read_blob(hub, head, f.path)
        if added and text is not None:
            found += catalogue.candidates(rules, f.path, text, added)
    return found


def _open(conn: Connection, hold: CanaryHold, restore: bool) -> None:
    out = admin.canary_release(conn, hold.task_id, hold.round, restore)
    if not out.ok:
        raise AinarresError(out.message)


def _restore(conn: Connection, hub: Path, hold: CanaryHold) -> Intake:
    if hold.real_head is None or hold.seeded_head is None:
        _open(conn, hold, True)  # nothing was planted: nothing to put back
        return Intake(hold.short_id, hold.round, "restored", "nothing to put back")
    seeding.move(hub, f"refs/heads/{hold.branch}", hold.seeded_head, hold.real_head)
    _open(conn, hold, True)
    return Intake(hold.short_id, hold.round, "restored", hold.real_head[:12])


def _decide(conn: Connection, hub: Path, rules: Sequence[Rule], setting: CanarySettings,
            hold: CanaryHold) -> Intake:  # fmt: skip
    task, head = hold.seq, hold.head_commit
    if hold.state == "planting" and hold.real_head and hold.seeded_head:
        return _go_live(conn, hub, hold, hold.real_head, hold.seeded_head, "resumed")
    branch = f"refs/heads/{hold.branch}"
    # The same work for every round, seeded or not, so that how long a round waits says
    # nothing: the candidates are found (and the seeded commit written) either way.
    try:
        if head is None or seeding.ref_target(hub, branch) != head:
            raise AinarresError(f"the hub's {hold.branch} is not at the task's head")
        pick = choose(_candidates(hub, rules, head), setting.seed, task, hold.round)
        seeded = None if pick is None else seeding.plant(hub, head, pick.path, pick.text)
    except AinarresError as exc:
        _open(conn, hold, False)
        return Intake(hold.short_id, hold.round, "unseeded", exc.message)
    # Never the round right after a seeded one: its head would be the disclosed seeded
    # commit again, or tell itself apart by a diff against it (ADR 0018).
    if (
        pick is None
        or seeded is None
        or hold.after_canary
        or not seeded_round(setting.rate, setting.seed, task, hold.round)
    ):
        _open(conn, hold, False)
        why = "no line of the change fits a defect" if pick is None else ""
        return Intake(hold.short_id, hold.round, "unseeded", why)
    out = admin.canary_plan(conn, hold.task_id, hold.round, head, seeded, pick.path, pick.line,
                            pick.kind, pick.tolerance, pick.description)  # fmt: skip
    if not out.ok:
        raise AinarresError(out.message)
    failpoint("canary-after-plan")
    return _go_live(conn, hub, hold, head, seeded, f"{pick.kind} at {pick.path}:{pick.line}")


def _go_live(conn: Connection, hub: Path, hold: CanaryHold, real: str, seeded: str,
             detail: str) -> Intake:  # fmt: skip
    seeding.move(hub, f"refs/heads/{hold.branch}", real, seeded)
    failpoint("canary-after-move")
    out = admin.canary_live(conn, hold.task_id, hold.round)
    if not out.ok:
        raise AinarresError(out.message)
    return Intake(hold.short_id, hold.round, "planted", detail)


def _apply(conn: Connection, task: UUID) -> Intake:
    out = admin.canary_apply(conn, task)
    short = out.task.short_id if out.task is not None else str(task)[-4:]
    return Intake(short, out.task.review_round if out.task else 0,
                  "applied" if out.ok else "skipped", out.message)  # fmt: skip


def pass_once(settings: Settings, rules: Sequence[Rule] | None = None) -> list[Intake]:
    """Apply the verdicts given since the last pass, then decide every held round once (a
    round whose head was just put back is decided in the same pass); return what was done,
    oldest first."""
    hub = project.require_hub(settings).require_local("the canary service")
    rules = catalogue.load() if rules is None else rules
    with open_connection(operator_conninfo(settings)) as conn:
        setting = reads.canary_settings(conn)
        done = [_apply(conn, task) for task in reads.canary_verdicts(conn)]

        def take(hold: CanaryHold) -> Intake:
            try:
                if hold.restore:
                    return _restore(conn, hub, hold)
                return _decide(conn, hub, rules, setting, hold)
            except AinarresError as exc:
                return Intake(hold.short_id, hold.round, "skipped", exc.message)

        first = reads.canary_holds(conn)
        done += [take(hold) for hold in first]
        # Once more for what the first look made (a round put back is held again at once),
        # or what came meanwhile: a hold is one row per task, so its key says it was seen.
        taken = {(hold.task_id, hold.round, hold.restore) for hold in first}
        done += [take(hold) for hold in reads.canary_holds(conn)
                 if (hold.task_id, hold.round, hold.restore) not in taken]  # fmt: skip
    return done


def watch(settings: Settings, interval: float, report: Callable[[Intake], None],
          stop: Callable[[], bool] = lambda: False) -> None:  # fmt: skip
    """Pass again and again until `stop()` says so (a person stops it with Ctrl-C)."""
    rules = catalogue.load()
    while not stop():
        for intake in pass_once(settings, rules):
            report(intake)
        time.sleep(interval)
