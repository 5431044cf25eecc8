"""Where each family stands: its record, active denials, and who is trending toward one."""

from __future__ import annotations

from dataclasses import dataclass

from ainarres.board import reads
from ainarres.board.db import Connection
from ainarres.rows import Denial, Policy, PolicyStanding, TrackRecord


@dataclass(frozen=True)
class Standing:
    track_records: list[TrackRecord]
    policies: list[Policy]
    denials: list[Denial]
    trending: list[PolicyStanding]  # value >= threshold - 1, not yet denied
    integrators: list[str]

    @property
    def integration_halted(self) -> bool:
        return not self.integrators

    def recommendations(self) -> list[str]:
        """What a person might do, in plain words."""
        out = []
        if self.integration_halted:
            out.append(
                "INTEGRATION HALTED: no family holds an active integrator role; lift "
                "the integrator's denial or grant the role to a family you trust"
            )
        for d in self.denials:
            if d.created_by.startswith("governance:"):
                out.append(
                    f"{d.family} lost {d.role} ({d.reason}); look at its recent work, then "
                    f"`ainarres govern lift {d.family} {d.role} --reason ...` or let it heal"
                )
        for t in self.trending:
            out.append(f"{t.family} is close to policy {t.policy} ({t.value:g} of {t.threshold:g})")
        return out


def standing(conn: Connection) -> Standing:
    data = reads.governance(conn)
    denied = {(d.family, d.role) for d in data.denials}
    trending = [s for s in data.standing
                if max(1.0, s.threshold - 1) <= s.value < s.threshold
                and (s.family, s.role) not in denied]  # fmt: skip
    return Standing(
        track_records=data.track_records,
        policies=data.policies,
        denials=data.denials,
        trending=trending,
        integrators=data.integrators,
    )
