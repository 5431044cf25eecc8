"""Catch rates from judged canaries: per reviewer family, per maker, per defect kind, and
the seed's question: does a reviewer of another maker than the author catch more than one
of the same maker? Pure: rows in, figures out.

A rate comes with its Wilson score interval (95%), which stays honest at small counts and
at 0 or 1, where the normal approximation says nonsense.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ainarres.rows import CanaryResult

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """Canaries seen and caught by one group, with the catch rate and its 95% interval."""

    group: str
    seen: int
    caught: int
    missed: int  # approved with the defect in
    elsewhere: int  # returned, but no annotation near the defect

    @property
    def rate(self) -> float | None:
        return self.caught / self.seen if self.seen else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.caught, self.seen)

    def as_dict(self) -> dict[str, object]:
        low, high = self.interval or (None, None)
        return {"group": self.group, "seen": self.seen, "caught": self.caught,
                "missed": self.missed, "returned_elsewhere": self.elsewhere,
                "catch_rate": self.rate, "ci95_low": low, "ci95_high": high}  # fmt: skip


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _rates(results: Iterable[CanaryResult], key: Callable[[CanaryResult], str | None]
           ) -> list[Rate]:  # fmt: skip
    groups: dict[str, list[CanaryResult]] = {}
    for r in results:
        k = key(r)
        if k is not None:
            groups.setdefault(k, []).append(r)
    out = [Rate(group=k, seen=len(rs), caught=sum(r.result == "caught" for r in rs),
                missed=sum(r.result == "missed" for r in rs),
                elsewhere=sum(r.result == "returned_elsewhere" for r in rs))
           for k, rs in groups.items()]  # fmt: skip
    # Best first; equal rates by more evidence, then by name.
    return sorted(out, key=lambda r: (-(r.rate or 0.0), -r.seen, r.group))


def _side(r: CanaryResult) -> str | None:
    """Whose work the reviewer was seeded into: another maker's, its own maker's (another
    family), or its own family's (which pushed the head the seeded one replaced, so it
    could know; kept apart so it does not colour the comparison)."""
    if r.writer_maker is None:
        return None
    if r.writer == r.reviewer:
        return "same family"
    return "same maker" if r.writer_maker == r.reviewer_maker else "other maker"


@dataclass(frozen=True)
class Scores:
    """Everything the report says about canaries."""

    total: int
    by_family: list[Rate]
    by_maker: list[Rate]
    by_kind: list[Rate]
    by_family_and_kind: list[Rate]
    by_side: list[Rate]  # reviewer vs author: "other maker" / "same maker" / "same family"

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_family": [r.as_dict() for r in self.by_family],
            "by_maker": [r.as_dict() for r in self.by_maker],
            "by_kind": [r.as_dict() for r in self.by_kind],
            "by_family_and_kind": [r.as_dict() for r in self.by_family_and_kind],
            "cross_vs_same_maker": [r.as_dict() for r in self.by_side],
        }


def score(results: Sequence[CanaryResult]) -> Scores:
    return Scores(
        total=len(results),
        by_family=_rates(results, lambda r: r.reviewer),
        by_maker=_rates(results, lambda r: r.reviewer_maker),
        by_kind=_rates(results, lambda r: r.kind),
        by_family_and_kind=_rates(results, lambda r: f"{r.reviewer} / {r.kind}"),
        by_side=_rates(results, _side),
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def table(title: str, rates: Sequence[Rate]) -> list[str]:
    """A text table: group, seen, caught, missed, returned elsewhere, rate, 95% interval."""
    width = max([len(title), *(len(r.group) for r in rates)])
    lines = [f"{title:<{width}}  seen caught missed elsewhere  rate  95% interval"]
    for r in rates:
        low, high = r.interval or (None, None)
        lines.append(f"{r.group:<{width}}  {r.seen:>4} {r.caught:>6} {r.missed:>6} "
                     f"{r.elsewhere:>9}  {_pct(r.rate):>4}  {_pct(low)}-{_pct(high)}")  # fmt: skip
    return lines


def as_text(scores: Scores) -> str:
    if not scores.total:
        return "canaries: none judged yet"
    parts = [f"canaries: {scores.total} judged (seeded review rounds; they never ship)"]
    for title, rates in (("reviewer family", scores.by_family), ("reviewer maker",
                         scores.by_maker), ("defect kind", scores.by_kind),
                         ("reviewer vs author", scores.by_side)):  # fmt: skip
        parts += ["", *table(title, rates)]
    return "\n".join(parts)
