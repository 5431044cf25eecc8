"""Rendering shared by the commands: JSON, outcomes and their exit codes, safe terminal text."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ainarres.errors import EXIT_REFUSED, OUTCOME_EXIT
from ainarres.text import visible

if TYPE_CHECKING:
    from ainarres.board.reads import BoardSnapshot
    from ainarres.models import Outcome
    from ainarres.rows import ActiveTask, Denial, Policy


def safe(text: str) -> str:
    """Text from the board shown harmlessly: control characters, ANSI escapes, bidi
    controls and invisible characters made visible (line breaks and tabs kept)."""
    return visible(text)


def emit_json(data: Any) -> None:
    """`data` as JSON on stdout, models and dataclasses at any depth written as pydantic
    writes them (dates ISO 8601, uuids as text); anything else unknown as text."""
    from pydantic_core import to_jsonable_python

    plain = to_jsonable_python(data, fallback=str)
    click.echo(json.dumps(plain, indent=2, ensure_ascii=False))


def finish(out: Outcome, as_json: bool, text: str | None = None, quiet: bool = False) -> NoReturn:
    """Print an outcome and exit with its code: 0 ok, 5 empty, 2 invalid, 1 any refusal."""
    if quiet:
        pass
    elif as_json:
        emit_json(out)
    elif out.ok:
        click.echo(safe(text or out.message))
    else:
        click.echo(f"ainarres: {out.outcome}: {safe(out.message)}", err=True)
    sys.exit(OUTCOME_EXIT.get(out.outcome, EXIT_REFUSED))


def age(seconds: float | None) -> str:
    """22s, 4m10s, 3h05m: the board's compact ages."""
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def stage_counts(snap: BoardSnapshot) -> str:
    """`implement 3 (1 held) · review 2`: the board's stages at a glance."""
    return " · ".join(
        f"{s.stage} {s.tasks}"
        + (f" ({s.held} held)" if s.held else "")
        + (f" ({s.blocked} blocked)" if s.blocked else "")
        for s in snap.stages
    )


def active_line(a: ActiveTask) -> str:
    """`…d25d [reviewing] grok+grok-build age 22s`: one task at work."""
    return f"{a.short_id} [{a.label}] {a.family} age {age(a.age_seconds)}" + (
        " UNSANDBOXED" if a.sandboxed is False else ""
    )


def heal(d: Denial) -> str:
    """When a denial ends: `permanent` or `heals in 59m30s`."""
    return "permanent" if d.expires_at is None else f"heals in {age(d.heals_in_seconds)}"


def policy_line(p: Policy) -> str:
    """A policy in one line: role, metric, threshold, window, first denial."""
    return (
        f"{p.name}: {p.role} {p.metric} >= {p.threshold:g} over {p.window}, first "
        f"denial {p.denial_base}{'' if p.enabled else ' (disabled)'}"
    )
