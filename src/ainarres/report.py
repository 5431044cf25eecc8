"""The end-of-run report: what shipped, who did what, and how much review crossed makers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ainarres.board import reads
from ainarres.board.db import Connection


@dataclass(frozen=True)
class Report:
    shipped: list[dict[str, Any]]
    cross_family: int

    @property
    def cross_family_line(self) -> str:
        return (
            f"cross-family review: {self.cross_family}/{len(self.shipped)} shipped tasks "
            "reviewed by a different family than implemented"
        )


def build(conn: Connection) -> Report:
    """Everything the report shows, read from the board (the event log and the reviews)."""
    shipped = reads.shipped(conn)
    cross = sum(
        1
        for s in shipped
        if s["reviewed"] and s["implemented"] and s["reviewed"] != s["implemented"]
    )
    return Report(shipped=shipped, cross_family=cross)


def as_text(report: Report) -> str:
    lines = [f"shipped ({len(report.shipped)}):"]
    lines += [
        f"- {s['short_id']} by family: implemented={s['implemented'] or '-'} "
        f"reviewed={s['reviewed'] or '-'} integrated={s['integrated'] or '-'}"
        for s in report.shipped
    ]
    lines.append(report.cross_family_line)
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "shipped": [
            {**s, "id": str(s["id"]), "shipped_at": s["shipped_at"].isoformat()}
            for s in report.shipped
        ],
        "cross_family_review": {
            "reviewed_by_other_family": report.cross_family,
            "shipped": len(report.shipped),
        },
    }
