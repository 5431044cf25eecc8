"""`ainarres demo --canaries`: two reviewer families of known quality, measured by canaries.

The scripted reviewers notice a deviation from the feature code with a recall set per
family (0.9 for grok+grok-build, 0.3 for claude-code+sonnet by default), so the figures
the report prints can be checked against the truth: the ranking must come out right, and
governance must demote the weak reviewer once it has seen enough canaries. Everything else
is the real thing: the board, the hub and its gate, signed pushes, the sandboxed tools,
the canary service planting and restoring seeded heads, and the integrator shipping what
was approved (canaries never among it).

Two implementer families of different makers (Alibaba's qwen, Anthropic's haiku) give each
reviewer authors of its own maker and of another, and cross review is off for the run, so
the board hands reviews out by who is free: the comparison same maker / other maker has
both sides.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ainarres import project, report
from ainarres.agents import config as agent_config
from ainarres.agents import sandbox
from ainarres.agents.swarm import Swarm
from ainarres.board import admin, reads
from ainarres.board.db import open_connection, operator_conninfo
from ainarres.board.embedded import EmbeddedServer
from ainarres.canary import service
from ainarres.config import Settings
from ainarres.demo import DESIGNER, INTEGRATOR, Seat, fresh, wire, write_config
from ainarres.integrate.run import Options, integrate

STRONG = ("grok+grok-build", "grok", "grok-build")
WEAK = ("claude-code+sonnet", "claude-code", "sonnet")
FEATURE_CYCLE = ("longest", "vocabulary", "sentence")


@dataclass(frozen=True)
class Plan:
    tasks: int = 48
    rate: float = 0.9
    seed: int = 7
    strong_recall: float = 0.9
    weak_recall: float = 0.3
    min_canaries: int = 40
    timeout: float = 600.0


def seats(plan: Plan) -> tuple[Seat, ...]:
    def reviewer(who: tuple[str, str, str], recall: float) -> Seat:
        args = ("--recall", str(recall), "--seed", str(plan.seed))
        return Seat(*who, roles=("reviewer",), tool_args=args)

    return (
        Seat(*DESIGNER, roles=("designer",)),
        Seat("opencode+qwen", "opencode", "qwen", roles=("implementer",)),
        Seat("claude-code+haiku", "claude-code", "haiku", roles=("implementer",)),
        reviewer(STRONG, plan.strong_recall),
        reviewer(WEAK, plan.weak_recall),
    )


def _briefs(settings: Settings, plan: Plan) -> None:
    with open_connection(operator_conninfo(settings)) as conn:
        assert admin.set_cross_review(conn, "dev", "off", None).ok
        assert admin.canary_set(conn, plan.rate, plan.seed).ok
        for i in range(plan.tasks):
            feature = FEATURE_CYCLE[i % len(FEATURE_CYCLE)]
            out = admin.brief(conn, f"Text statistics, part {i + 1}: {feature}",
                              f"Add the {feature} feature, with tests.")  # fmt: skip
            assert out.ok, out.message


def _progress(settings: Settings) -> tuple[int, int]:
    """(canaries judged, tasks not yet past review)."""
    with open_connection(operator_conninfo(settings)) as conn:
        judged = reads.canary_settings(conn).judged
        counts = {s.stage: s.tasks + s.blocked for s in reads.board(conn).stages}
    return judged, sum(counts.get(stage, 0) for stage in ("brief", "implement", "review"))


def run_canary_demo(state_dir: Path, plan: Plan = Plan(), log: Callable[[str], None] = print
                    ) -> int:  # fmt: skip
    """Run it; 0 when the strong reviewer ranks above the weak one over at least
    `plan.min_canaries` canaries and the weak one was demoted by governance."""
    started = time.monotonic()
    state_dir = state_dir.absolute()
    fresh(state_dir, log)
    settings = Settings(state_dir=state_dir, database_url=None)
    EmbeddedServer(state_dir).ensure_running()
    passphrase = secrets.token_urlsafe(16)
    crew = seats(plan)
    wire(settings, passphrase, log, crew)
    _briefs(settings, plan)
    recalls = f"{STRONG[0]} {plan.strong_recall}, {WEAK[0]} {plan.weak_recall}"
    log(f"demo: {plan.tasks} briefs; canaries at rate {plan.rate} (seed {plan.seed}); "
        f"reviewer recall {recalls}")  # fmt: skip
    reason = sandbox.unavailable_reason()
    if reason:
        log(f"demo: NOTICE: the scripted agents run UNSANDBOXED ({reason})")
    cfg = write_config(state_dir, crew)
    crowd = Swarm(settings, cfg, agent_config.load(cfg), sandbox=reason is None,
                  env={**os.environ, "AINARRES_SCRIPT_DELAY": "0"},
                  gate=project.local_hub_dir(settings), log=lambda line: None)  # fmt: skip
    stop = threading.Event()
    planted: list[service.Intake] = []

    def serve() -> None:
        # The person's canary service, beside the swarm (`ainarres canary run`).
        service.watch(settings, 0.2, planted.append, stop.is_set)

    worker = threading.Thread(target=serve, daemon=True)
    crowd.start()
    worker.start()
    judged, waiting = 0, plan.tasks
    try:
        while time.monotonic() - started < plan.timeout:
            judged, waiting = _progress(settings)
            if waiting == 0 and judged > 0:
                break
            crowd.tend()
            time.sleep(0.5)
    finally:
        stop.set()
        crowd.stop()
        worker.join(timeout=30)
    log(f"demo: {judged} canaries judged, {sum(i.what == 'planted' for i in planted)} planted; "
        "a person starts the integrator")  # fmt: skip
    options = Options(family=INTEGRATOR[0], agent="integrate@demo", passphrase=passphrase)
    results = integrate(settings, options)
    with open_connection(operator_conninfo(settings)) as conn:
        built = report.build(conn, canaries=True)
    log("\n" + report.as_text(built))
    log(f"\n{len(results)} task(s) integrated; the demo took {time.monotonic() - started:.1f} s")
    EmbeddedServer(state_dir).stop()
    return 0 if verdict(built, plan) else 1


def verdict(built: report.Report, plan: Plan) -> bool:
    """Whether the run answered right: enough canaries, strong ranked first, weak demoted."""
    scores = built.canaries
    if scores is None or scores.total < plan.min_canaries:
        return False
    ranked = [r.group for r in scores.by_family]
    demoted = built.governance is not None and any(
        d.family == WEAK[0] and d.role == "reviewer" for d in built.governance.denials
    )
    return ranked[:1] == [STRONG[0]] and WEAK[0] in ranked and demoted
