"""The web board's pages as HTML strings. Everything from the board (titles, bodies, reasons,
annotations, file names, diff lines: agents write them) is shown harmless twice over:
control and invisible characters made visible (`text.visible`), then HTML-escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ainarres.cli.render import active_line, heal, policy_line, stage_counts
from ainarres.report import who
from ainarres.text import visible

if TYPE_CHECKING:
    from ainarres.board.reads import BoardSnapshot
    from ainarres.govern.status import Standing
    from ainarres.models import Annotation, Event, Outcome, Task
    from ainarres.report import Report
    from ainarres.review.service import Review
    from ainarres.rows import Shipped, TaskRow

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
nav a{margin-right:1em} h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.4em}
pre,code,.diff{font-family:ui-monospace,monospace;font-size:13px}
table{border-collapse:collapse} td,th{padding:2px 8px;text-align:left;vertical-align:top}
.diff td{padding:0 6px;white-space:pre} .add{background:#e6ffec} .del{background:#ffebe9}
.hunk{color:#555;background:#eef} .num{color:#888;text-align:right}
.note{background:#fff8c5;white-space:pre-wrap;border-left:3px solid #d4a72c}
.warn{color:#a00;font-weight:bold} .muted{color:#777} form{margin:.5em 0}
"""


def e(value: object) -> str:
    """Untrusted text for HTML: made visible, then escaped (quotes too)."""
    return html.escape(visible(str(value)), quote=True)


def page(title: str, body: str, nonce: str, script: str = "") -> str:
    nav = " ".join(
        f'<a href="{href}">{name}</a>'
        for href, name in (("/", "board"), ("/report", "report"), ("/govern", "governance"))
    )
    js = f'<script nonce="{nonce}">{script}</script>' if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)} · ainarres</title><style>{STYLE}</style></head>"
        f"<body><nav>{nav}</nav><h1>{e(title)}</h1>{body}{js}</body></html>"
    )


def _task_link(task_id: object, short_id: str) -> str:
    return f'<a href="/task/{e(task_id)}">{e(short_id)}</a>'


def board_fragment(snap: BoardSnapshot) -> str:
    """What the live board shows, and what the page swaps in when the board changes."""
    out = [f'<p id="stages">stages: {e(stage_counts(snap))}</p>',
           f"<h2>active ({len(snap.active)})</h2><ul>"]  # fmt: skip
    for a in snap.active:
        # the CLI's line, its task id a link
        line = _task_link(a.id, a.short_id) + e(active_line(a)[len(a.short_id) :])
        out.append(f'<li class="active">{line} <span class="muted">{e(a.title)}</span></li>')
    out.append("</ul>")
    if snap.blocked:
        out.append(f"<h2>blocked ({len(snap.blocked)})</h2><ul>")
        out += [
            f"<li>{_task_link(b.id, b.short_id)} [{e(b.stage)}] {e(b.title)}: "
            f"{e(b.blocked_reason or '')}</li>"
            for b in snap.blocked
        ]
        out.append("</ul>")
    if not snap.integrators:
        out.append(
            '<p class="warn">INTEGRATION HALTED: no family holds an active integrator role '
            '(see <a href="/govern">governance</a>)</p>'
        )
    return "\n".join(out)


# The live board: an EventSource on /events; each message says the board's shape changed
# (the first one is its shape now), and the fragment is fetched again and swapped in.
LIVE_JS = """
const live = document.getElementById("live");
const status = document.getElementById("live-status");
const source = new EventSource("/events");
source.onmessage = async () => {
  const r = await fetch("/fragment/board", {credentials: "same-origin"});
  if (r.ok) { live.innerHTML = await r.text(); status.textContent = "live"; }
};
source.onerror = () => { status.textContent = "disconnected; retrying"; };
"""


def board_page(snap: BoardSnapshot, nonce: str) -> str:
    body = (
        '<p class="muted">updates: <span id="live-status">connecting</span></p>'
        f'<div id="live">{board_fragment(snap)}</div>'
        '<p><a href="/tasks">every task</a></p>'
    )
    return page("board", body, nonce, LIVE_JS)


def tasks_page(rows: Sequence[TaskRow], nonce: str) -> str:
    items = "".join(
        f"<tr><td>{_task_link(r.id, r.short_id)}</td><td>{e(r.stage)}</td><td>{e(r.title)}</td>"
        f"<td>{'blocked' if r.blocked else ''}</td></tr>"
        for r in rows
    )
    return page("tasks", f"<table><tr><th>task</th><th>stage</th><th>title</th></tr>{items}"
                         "</table>", nonce)  # fmt: skip


def _events(events: Iterable[Event]) -> str:
    rows = []
    for ev in events:
        move = f"{ev.from_stage or ''}→{ev.to_stage or ''}" if ev.from_stage or ev.to_stage else ""
        extra = " ".join(f"{k}={v}" for k, v in ev.data.items())
        rows.append(
            f"<tr><td>{ev.at:%H:%M:%S}</td><td>{e(ev.kind)}</td><td>{e(move)}</td>"
            f"<td>{e(ev.family or ev.actor)}</td><td>{e(extra)}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


MAX_DIFF_LINES = 5000  # a page shows this many diff lines at most; the CLI shows the rest


def _diff(review: Review) -> str:
    here = [a for a in review.annotations if a.commit == review.diff.head]
    earlier = [a for a in review.annotations if a.commit != review.diff.head]
    by_place: dict[tuple[str, str, int], list[Annotation]] = {}
    for a in here:
        by_place.setdefault((a.file, a.side, a.line), []).append(a)
    out = [
        f"<p>base <code>{e(review.diff.base[:12])}</code> .. head "
        f"<code>{e(review.diff.head[:12])}</code></p>"
    ]
    shown_lines = 0
    for f in review.diff.files:
        if shown_lines >= MAX_DIFF_LINES:
            break
        name = f.path if f.path == f.old_path else f"{f.old_path} -> {f.path}"
        out.append(f"<h3>{e(name)} ({e(f.status)}{', binary' if f.binary else ''})</h3>")
        out.append('<table class="diff">')
        for h in f.hunks:
            if shown_lines >= MAX_DIFF_LINES:
                break
            out.append(f'<tr class="hunk"><td colspan=3>{e(h.header)}</td></tr>')
            for ln in h.lines:
                shown_lines += 1
                if shown_lines > MAX_DIFF_LINES:
                    break
                mark = {"add": "+", "del": "-", "ctx": " "}[ln.kind]
                old = "" if ln.old is None else str(ln.old)
                new = "" if ln.new is None else str(ln.new)
                out.append(
                    f'<tr class="{e(ln.kind)}"><td class="num">{old}</td><td class="num">{new}'
                    f"</td><td>{e(mark)} {e(ln.text)}</td></tr>"
                )
                places = [
                    (name, side, at)
                    for name in {f.path, f.old_path}
                    for side, at in (("new", ln.new), ("old", ln.old))
                    if at is not None
                ]
                for a in (a for place in places for a in by_place.get(place, ())):
                    shown = ln.kind != ("del" if a.side == "new" else "add")
                    if shown:
                        out.append(
                            f'<tr><td></td><td></td><td class="note">[{e(a.severity)}] '
                            f"{e(a.family)}: {e(a.body)}</td></tr>"
                        )
        out.append("</table>")
    if sum(len(h.lines) for f in review.diff.files for h in f.hunks) > MAX_DIFF_LINES:
        out.append(f"<p><b>the diff is cut at {MAX_DIFF_LINES} lines</b>; the rest: "
                   "<code>ainarres review show</code></p>")  # fmt: skip
    if earlier:
        out.append("<h3>earlier rounds</h3><ul>")
        out += [
            f"<li>round {a.round} {e(a.file)}:{a.line} ({e(a.side)}) [{e(a.severity)}] "
            f"{e(a.family)}: {e(a.body)}</li>"
            for a in earlier
        ]
        out.append("</ul>")
    if review.rounds:
        out.append("<h3>review rounds</h3><ul>")
        out += [
            f"<li>round {r.round}: {e(r.verdict)} by {e(r.family)} at "
            f"{e((r.commit or '-')[:12])}{': ' + e(r.reason) if r.reason else ''}</li>"
            for r in review.rounds
        ]
        out.append("</ul>")
    return "\n".join(out)


def task_page(
    task: Task,
    events: Iterable[Event],
    review: Review | None,
    diff_problem: str | None,
    form: str,
    nonce: str,
) -> str:
    head = (
        f"<p><code>{e(task.id)}</code> [{e(task.stage)}] priority {task.priority}, attempt "
        f"{task.attempts}, branch <code>{e(task.branch)}</code>"
        + (f", held by {e(task.holder_family)}" if task.holder_family else "")
        + "</p>"
    )
    if task.blocked:
        head += f'<p class="warn">blocked: {e(task.blocked_reason or "")}</p>{form}'
    body = f"<pre>{e(task.body)}</pre>" if task.body else ""
    diff = (
        _diff(review)
        if review is not None
        else f'<p class="muted">no diff: {e(diff_problem or "nothing pushed")}</p>'
    )
    return page(
        f"{task.short_id} {task.title}",
        f"{head}{body}<h2>diff</h2>{diff}<h2>log</h2>{_events(events)}",
        nonce,
    )


def _bars(groups: Sequence[tuple[str, int, int]]) -> str:
    """An inline SVG bar chart: for each group, cross-maker and same-maker reviewed tasks."""
    top = max([1, *(max(c, s) for _, c, s in groups)])
    width, bar, gap, label_w = 680, 14, 10, 300
    rows = []
    y = 22
    for name, cross, same in groups:
        for kind, count, colour in (("cross-maker", cross, "#2b7"), ("same-maker", same, "#d73")):
            w = round((width - label_w - 40) * count / top)
            rows.append(
                f'<text x="0" y="{y + 11}" font-size="12">{e(name)} {kind}</text>'
                f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar}" fill="{colour}">'
                f"<title>{e(name)} {kind}: {count}</title></rect>"
                f'<text x="{label_w + w + 4}" y="{y + 11}" font-size="12">{count}</text>'
            )
            y += bar + 2
        y += gap
    return (
        f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        'role="img" aria-label="cross-maker and same-maker reviewed shipped tasks">'
        '<text x="0" y="12" font-size="12" font-weight="bold">reviewed shipped tasks</text>'
        f"{''.join(rows)}</svg>"
    )


def chart_groups(shipped: Sequence[Shipped]) -> list[tuple[str, int, int]]:
    """(all, cross, same), then one group per implementing family; unreviewed tasks left out."""
    reviewed = [s for s in shipped if s.reviewed_maker and s.implemented_maker]
    groups = [
        ("all", sum(s.cross_maker for s in reviewed), sum(not s.cross_maker for s in reviewed))
    ]
    for fam in sorted({s.implemented or "-" for s in reviewed}):
        mine = [s for s in reviewed if (s.implemented or "-") == fam]
        groups.append((fam, sum(s.cross_maker for s in mine), sum(not s.cross_maker for s in mine)))
    return groups


def _who(name: str | None, maker: str | None) -> str:
    return e(who(name, maker))


def report_page(report: Report, nonce: str) -> str:
    facts = report.facts
    rows = "".join(
        f"<tr><td>{_task_link(s.id, s.short_id)}</td><td>{e(s.title)}</td>"
        f"<td>{_who(s.implemented, s.implemented_maker)}</td>"
        f"<td>{_who(s.reviewed, s.reviewed_maker)}</td>"
        f"<td>{_who(s.integrated, s.integrated_maker)}</td><td>{s.rounds}</td></tr>"
        for s in report.shipped
    )
    out = [
        f'<p id="cross-maker">{e(report.cross_maker_line)}</p>',
        f'<p id="cross-family">{e(report.cross_family_line)}</p>',
        _bars(chart_groups(report.shipped)),
        f"<h2>shipped ({len(report.shipped)})</h2><table><tr><th>task</th><th>title</th>"
        f"<th>implemented</th><th>reviewed</th><th>integrated</th><th>rounds</th></tr>{rows}"
        "</table>",
    ]
    if facts.returned:
        out.append(f"<h2>returned ({len(facts.returned)})</h2><ul>")
        out += [
            f"<li>{e(r.short_id)} from {e(r.from_stage)} by {e(r.family or '-')}: "
            f"{e((r.reason or '').splitlines()[0][:200] if r.reason else '')}</li>"
            for r in facts.returned
        ]
        out.append("</ul>")
    if facts.blocked:
        out.append(f"<h2>blocked, waiting for a person ({len(facts.blocked)})</h2><ul>")
        out += [
            f"<li>{e(b.short_id)} [{e(b.stage)}] {e(b.blocked_reason or '')}</li>"
            for b in facts.blocked
        ]
        out.append("</ul>")
    if facts.stage_times:
        out.append("<h2>time in stage (average / longest, seconds)</h2><ul>")
        out += [
            f"<li>{e(t.stage)} {t.avg_seconds or 0:.1f} / {t.max_seconds or 0:.1f}</li>"
            for t in facts.stage_times
        ]
        out.append("</ul>")
    if facts.unsandboxed:
        out.append(
            '<p class="warn">UNSANDBOXED agents: '
            + ", ".join(f"{e(u.agent)} ({e(u.family)})" for u in facts.unsandboxed)
            + "</p>"
        )
    return page("report", "\n".join(out), nonce)


def govern_page(st: Standing, lift_form: str, nonce: str) -> str:
    rec = "".join(
        f"<tr><td>{e(r.family)}</td><td>{r.claimed}</td><td>{r.shipped}</td>"
        f"<td>{r.returned_as_producer}</td><td>{r.abandoned}</td><td>{r.reviews_done}</td>"
        f"<td>{r.approvals_failed_checks}</td><td>{r.returns_overturned}</td></tr>"
        for r in st.track_records
    )
    denials = "".join(
        f"<li>denied: {e(d.family)} {e(d.role)} ({e(heal(d))}): {e(d.reason)}</li>"
        for d in st.denials
    )
    policies = "".join(f"<li>{e(policy_line(p))}</li>" for p in st.policies)
    recs = "".join(f"<li>{e(line)}</li>" for line in st.recommendations())
    body = (
        "<h2>track records</h2><table><tr><th>family</th><th>claimed</th><th>shipped</th>"
        "<th>returned</th><th>abandoned</th><th>reviews</th><th>failed approvals</th>"
        f"<th>overturned</th></tr>{rec}</table>"
        f'<h2>denials ({len(st.denials)})</h2><ul id="denials">{denials}</ul>{lift_form}'
        f"<h2>recommendations</h2><ul>{recs or '<li>none</li>'}</ul>"
        f"<h2>policies</h2><ul>{policies}</ul>"
    )
    return page("governance", body, nonce)


def outcome_page(what: str, out: Outcome, back: str, nonce: str) -> str:
    cls = "" if out.outcome == "ok" else ' class="warn"'
    return page(
        what,
        f'<p{cls}>{e(out.outcome)}: {e(out.message)}</p><p><a href="{e(back)}">back</a></p>',
        nonce,
    )


def problem_page(title: str, message: str, nonce: str) -> str:
    return page(title, f'<p class="warn">{e(message)}</p>', nonce)
