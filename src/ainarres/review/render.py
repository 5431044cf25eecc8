"""The review as text (annotations inline, made harmless) and as a stable JSON shape."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from ainarres.review.service import Review
from ainarres.text import visible


def _safe(text: str) -> str:
    """Control characters, ANSI escapes, bidi controls and invisible characters shown,
    not obeyed (a Trojan Source diff reads as what it is)."""
    return visible(text)


def as_json(review: Review) -> dict[str, Any]:
    """Schema v1: task, base, head, files[hunks[lines]], annotations, rounds."""
    t = review.task
    return {
        "schema": "ainarres.review/1",
        "task": {"id": str(t.id), "short_id": t.short_id, "title": t.title, "stage": t.stage,
                 "round": t.review_round, "branch": t.branch},
        "base": review.diff.base,
        "head": review.diff.head,
        "files": [
            {"path": f.path, "old_path": f.old_path, "status": f.status, "binary": f.binary,
             "hunks": [{"header": h.header, "old_start": h.old_start, "old_lines": h.old_lines,
                        "new_start": h.new_start, "new_lines": h.new_lines,
                        "lines": [{"kind": ln.kind, "old": ln.old, "new": ln.new, "text": ln.text}
                                  for ln in h.lines]}
                       for h in f.hunks]}
            for f in review.diff.files
        ],
        "annotations": [a.model_dump(mode="json") for a in review.annotations],
        "rounds": [to_jsonable_python(r) for r in review.rounds],
    }  # fmt: skip


def as_text(review: Review) -> str:
    """A unified diff with both line numbers, and each annotation under the line it is on."""
    t = review.task
    here = [a for a in review.annotations if a.commit == review.diff.head]
    earlier = [a for a in review.annotations if a.commit != review.diff.head]
    out = [
        f"{t.short_id} {_safe(t.title)}  [{t.stage}, round {t.review_round}]",
        f"base {review.diff.base[:12]} .. head {review.diff.head[:12]} ({t.branch})",
    ]
    for f in review.diff.files:
        name = f.path if f.path == f.old_path else f"{f.old_path} -> {f.path}"
        out.append(f"\n=== {_safe(name)} ({f.status}{', binary' if f.binary else ''})")
        for h in f.hunks:
            out.append(_safe(h.header))
            for ln in h.lines:
                mark = {"add": "+", "del": "-", "ctx": " "}[ln.kind]
                old = "" if ln.old is None else str(ln.old)
                new = "" if ln.new is None else str(ln.new)
                out.append(f"{old:>5} {new:>5} {mark} {_safe(ln.text)}")
                for a in here:
                    at = ln.new if a.side == "new" else ln.old
                    shown = ln.kind != ("del" if a.side == "new" else "add")
                    if a.file in (f.path, f.old_path) and a.line == at and shown:
                        out.append(f"{'':>13}^ [{a.severity}] {a.family}: {_safe(a.body)}")
    if earlier:
        out.append("\nearlier rounds:")
        out += [
            f"  round {a.round} {_safe(a.file)}:{a.line} ({a.side}) [{a.severity}] "
            f"{a.family}: {_safe(a.body)}"
            for a in earlier
        ]
    for r in review.rounds:
        why = f": {_safe(r.reason)}" if r.reason else ""
        out.append(f"round {r.round}: {r.verdict} by {r.family} at {(r.commit or '-')[:12]}{why}")
    return "\n".join(out)
