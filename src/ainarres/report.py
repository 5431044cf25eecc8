"""The end-of-run report: what shipped, who did what, how much review crossed makers, what
came back, what waits for a person, how long each stage took, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ainarres.board import reads
from ainarres.board.db import Connection
from ainarres.canary import score as canary_score
from ainarres.govern.status import Standing, standing
from ainarres.rows import ReportFacts, Shipped
from ainarres.text import visible


@dataclass(frozen=True)
class Report:
    shipped: list[Shipped]
    facts: ReportFacts
    governance: Standing | None = None
    canaries: canary_score.Scores | None = None  # the operator's report only

    @property
    def cross_family(self) -> int:
        return sum(1 for s in self.shipped if s.cross_family)

    @property
    def cross_maker(self) -> int:
        return sum(1 for s in self.shipped if s.cross_maker)

    @property
    def cross_family_line(self) -> str:
        return (
            f"cross-family review: {self.cross_family}/{len(self.shipped)} shipped tasks "
            "reviewed by a different family than implemented"
        )

    @property
    def cross_maker_line(self) -> str:
        return (
            f"cross-maker review: {self.cross_maker}/{len(self.shipped)} shipped tasks "
            "reviewed by a different maker than implemented"
        )


def build(conn: Connection, canaries: bool = False) -> Report:
    """Everything the report shows, read from the board (the event log and the reviews);
    with `canaries` (an operator's connection), the catch rates of the seeded reviews.
    Canary rounds are in none of the other figures: their verdicts are not reviews."""
    return Report(
        shipped=reads.shipped(conn),
        facts=reads.report_facts(conn),
        governance=standing(conn),
        canaries=canary_score.score(reads.canary_results(conn)) if canaries else None,
    )


def who(name: str | None, maker: str | None) -> str:
    """`grok+grok-build (xai)`, or `-` for nobody."""
    return f"{name} ({maker})" if name else "-"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}m"


def as_text(report: Report) -> str:
    """The report for a terminal; every name and reason an agent wrote is escaped."""
    lines = [f"shipped ({len(report.shipped)}):"]
    lines += [
        f"- {s.short_id} implemented={who(s.implemented, s.implemented_maker)} "
        f"reviewed={who(s.reviewed, s.reviewed_maker)} "
        f"integrated={who(s.integrated, s.integrated_maker)}"
        for s in report.shipped
    ]
    lines.append(report.cross_family_line)
    lines.append(report.cross_maker_line)
    facts = report.facts
    if facts.returned:
        lines.append(f"returned ({len(facts.returned)}):")
        lines += [
            f"- {r.short_id} from {r.from_stage} by {r.family or '-'}: "
            f"{visible((r.reason or '').splitlines()[0] if r.reason else '')[:120]}"
            for r in facts.returned
        ]
    if facts.blocked:
        lines.append(f"blocked, waiting for a person ({len(facts.blocked)}):")
        lines += [
            f"- {b.short_id} [{b.stage}] {visible(b.blocked_reason or '')}" for b in facts.blocked
        ]
    if facts.stage_times:
        lines.append(
            "time in stage (average / longest): "
            + ", ".join(
                f"{t.stage} {_secs(t.avg_seconds)}/{_secs(t.max_seconds)}"
                for t in facts.stage_times
            )
        )
    if facts.usage:
        lines.append(
            "tool runs per family: "
            + ", ".join(
                f"{u.family} {u.runs} run(s) {_secs(u.seconds)}"
                + (f" {u.tokens} tokens" if u.tokens is not None else "")
                + (f" ${u.cost_usd:.4f}" if u.cost_usd is not None else "")
                for u in facts.usage
            )
        )
    if facts.unsandboxed:
        lines.append(
            "UNSANDBOXED agents: " + ", ".join(f"{u.agent} ({u.family})" for u in facts.unsandboxed)
        )
    gov = report.governance
    if gov is not None:
        lines.append("governance:")
        for d in gov.denials:
            heal = "permanent" if d.expires_at is None else f"heals in {_secs(d.heals_in_seconds)}"
            lines.append(f"- denied: {d.family} {d.role} ({heal}): {visible(d.reason)}")
        lines += [f"- {line}" for line in gov.recommendations()]
        if not gov.denials and not gov.recommendations():
            lines.append("- no family is denied a role or close to a policy")
    if report.canaries is not None:
        lines.append(canary_score.as_text(report.canaries))
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "shipped": report.shipped,
        "cross_family_review": {
            "reviewed_by_other_family": report.cross_family,
            "shipped": len(report.shipped),
        },
        "cross_maker_review": {
            "reviewed_by_other_maker": report.cross_maker,
            "shipped": len(report.shipped),
        },
        **{f.name: getattr(report.facts, f.name) for f in fields(report.facts)},
        "governance": None
        if report.governance is None
        else {
            "denials": report.governance.denials,
            "trending": report.governance.trending,
            "integration_halted": report.governance.integration_halted,
            "recommendations": report.governance.recommendations(),
        },
        "canaries": None if report.canaries is None else report.canaries.as_dict(),
    }
