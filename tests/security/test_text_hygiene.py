"""Text a model or a person wrote: control, bidi and invisible characters are refused, the
same way, in the same words, by the database (`_bad_text`) and by `ainarres.text`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from boardenv import BoardEnv, rows
from psycopg import sql

from ainarres import text
from ainarres.board import admin
from ainarres.board.verbs import Agent
from ainarres.errors import BadInput
from ainarres.models import Outcome

HEAD = "b" * 40

# Each sample is checked as single-line text (a title) and as multi-line text (a note, and
# a body that may be empty).
SAMPLES = [
    "fix the parser",
    "naïve café — 日本語, ✓ Ελληνικά",
    "👩\u200d💻 pair programming",  # ZWJ in an emoji sequence
    "می\u200cخواهم",  # ZWNJ in Persian
    "hyphen\u00adated",  # soft hyphen
    "see\u202etxt.exe",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066isolate\u2069",
    "a\u200eb",
    "arabic\u061cmark",
    "zero\u200bwidth",
    "\ufeffbom",
    "word\u2060joiner",
    "invisible\u2064plus",
    "ansi \x1b[31mred\x1b[0m",
    "bell\x07",
    "del\x7f",
    "c1 \x85 next line",
    "c1 \x9b31m csi",
    "tab\there",
    "two\nlines",
    "crlf\r\nline",
    "vertical\x0btab",
    "form\x0cfeed",
    "line\u2028separator",
    "para\u2029separator",
    "",
    "   ",
    "\n",
    " \t ",
    "   \n\t\r\n",
    "\u00a0",  # a no-break space is text, not nothing
    "x" * 201,
    "é" * 101,  # 202 bytes
    "ok" + "\u202e" * 3 + "x" * 250,  # too long first
]


def catalogue_snapshot(board: BoardEnv) -> dict[str, list[str]]:
    """Every table of the board's schema, found in the catalogue, row by row."""
    with board.operator() as conn:
        tables = [
            r["t"]
            for r in rows(
                conn,
                "SELECT c.relname AS t FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'ainarres' AND c.relkind IN ('r', 'p') ORDER BY 1",
            )
        ]
        assert {"tasks", "events", "annotations", "reviews", "settings"} <= set(tables)
        return {
            t: [
                r["row"]
                for r in conn.execute(
                    sql.SQL("SELECT x::text AS row FROM ainarres.{} x ORDER BY 1").format(
                        sql.Identifier(t)
                    )
                ).fetchall()
            ]
            for t in tables
        }


def _python(field: str, value: str, max_bytes: int, single_line: bool, empty: bool) -> str | None:
    try:
        assert (
            text.check(
                field, value, max_bytes=max_bytes, single_line=single_line, allow_empty=empty
            )
            == value
        )
    except BadInput as exc:
        return exc.message
    return None


def _refused(out: Outcome) -> str | None:
    if out.ok:
        return None
    assert out.outcome == "invalid", out.message
    return out.message


@pytest.fixture
def wired(board: BoardEnv) -> BoardEnv:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    board.add_family("grok+grok-build", "reviewer")
    return board


def _holding(board: BoardEnv, family: str) -> tuple[Agent, Any, int]:
    agent = board.agent(family, f"{family.split('+')[0]}-holder")
    claim = agent.claim_next()
    assert claim.ok and claim.task is not None and claim.epoch is not None, claim.message
    return agent, claim.task.id, claim.epoch


def test_text_hygiene_database_and_python_agree_sample_by_sample(wired: BoardEnv) -> None:
    designer = wired.agent("claude-code+opus")
    designer.create_task("a task to take notes on")
    implementer, task, epoch = _holding(wired, "opencode+qwen")
    disagreements = []
    fields: list[tuple[str, int, bool, bool, Callable[[str], Outcome]]] = [
        ("title", 200, True, False, lambda v: designer.create_task(v)),
        ("note", 16384, False, False, lambda v: implementer.note(task, epoch, v)),
        ("body", 65536, False, True, lambda v: designer.create_task("t", v)),
    ]
    with wired.operator() as op:
        for value in SAMPLES:
            for field, max_bytes, single, empty, verb in fields:
                python = _python(field, value, max_bytes, single, empty)
                fn = "_bad_text_or_empty" if empty else "_bad_text"
                direct = op.execute(
                    sql.SQL("SELECT ainarres.{}(%s, %s, %s, %s) AS r").format(sql.Identifier(fn)),
                    (field, value, max_bytes, single),
                ).fetchone()
                assert direct is not None
                through_verb = _refused(verb(value))
                if not python == direct["r"] == through_verb:
                    disagreements.append((field, value, python, direct["r"], through_verb))
    assert disagreements == []


def test_text_hygiene_the_rules_and_their_words() -> None:
    def why(value: str, single: bool) -> str | None:
        return _python("title" if single else "body", value, 200, single, False)

    assert why("see\u202etxt", True) == (
        "title contains U+202E (a bidi control) at character 4; remove it"
    )
    assert why("two\nlines", True) == (
        "title must be one line: it contains U+000A (a line break) at character 4; remove it"
    )
    assert why("ansi \x1b[31m", False) == (
        "body contains U+001B (a control character) at character 6; remove it"
    )
    assert why("a\u200bb", False) == (
        "body contains U+200B (an invisible character) at character 2; remove it"
    )
    assert why("a\u2028b", False) == (
        "body contains U+2028 (a line or paragraph separator) at character 2; remove it"
    )
    assert why("   \n\t", False) == "body must not be empty"
    for allowed_in_bodies in ("👩\u200d💻", "می\u200cخواهم", "soft\u00ad", "a\tb\r\nc"):
        assert why(allowed_in_bodies, False) is None
        assert why(allowed_in_bodies, True) is not None
    # What no database text can hold is refused before it is sent.
    assert why("nul\x00", False) == (
        "body contains U+0000 (a control character) at character 4; remove it"
    )
    assert why("lone \ud800", False) == (
        "body contains U+D800 (an unpaired surrogate) at character 6; remove it"
    )
    assert text.UNSAFE_SINGLE_LINE.search("x\u200dy") and not text.UNSAFE_MULTI_LINE.search(
        "x\u200dy"
    )


def test_text_hygiene_clip_shows_the_unseen_and_stays_short() -> None:
    assert text.clip("plain") == "plain"
    assert text.clip("a\x1b[31mb\u202ec\u200b") == "a\\x1b[31mb\\u{202e}c\\u{200b}"
    assert text.clip("tab\tnew\nline") == "tab\\x09new\\x0aline"
    assert text.clip("x" * 100) == "x" * 60 + "…(40 more)"
    assert text.clip("y" * 10, limit=4) == "yyyy…(6 more)"
    clipped = text.clip("\x1b" * 100)
    assert clipped.startswith("\\x1b" * 15) and clipped.endswith("…(85 more)")
    assert text.clip("") == ""


# Refused classes, with a sample each: multi-line fields refuse these ...
MULTI_LINE_REFUSED = {
    "control": "red \x1b[31malert\x1b[0m",
    "c1 control": "csi \x9b2J",
    "bidi": "evil\u202etxt.exe",
    "isolate": "\u2067rtl\u2069",
    "zero width": "zero\u200bwidth",
    "bom": "\ufeffstart",
    "line separator": "one\u2028two",
}
# ... and single-line fields these too.
SINGLE_LINE_REFUSED = {
    **MULTI_LINE_REFUSED,
    "newline": "two\nlines",
    "tab": "a\tb",
    "zwj": "a\u200db",
    "soft hyphen": "soft\u00adhyphen",
}

Call = Callable[[str], Outcome]


def _each_refused(
    board: BoardEnv, call: Call, samples: dict[str, str], field: str, max_bytes: int, single: bool
) -> None:
    for kind, value in samples.items():
        before = catalogue_snapshot(board)
        out = call(value)
        assert out.outcome == "invalid", (kind, out.outcome, out.message)
        assert out.message == _python(field, value, max_bytes, single, False), kind
        assert catalogue_snapshot(board) == before, kind


def test_text_hygiene_brief_refuses_and_stores_nothing(wired: BoardEnv) -> None:
    with wired.operator() as op:
        _each_refused(wired, lambda v: admin.brief(op, v), SINGLE_LINE_REFUSED, "title", 200, True)
        _each_refused(
            wired, lambda v: admin.brief(op, "t", v), MULTI_LINE_REFUSED, "body", 65536, False
        )


def test_text_hygiene_create_task_refuses_and_stores_nothing(wired: BoardEnv) -> None:
    designer = wired.agent("claude-code+opus")
    _each_refused(wired, designer.create_task, SINGLE_LINE_REFUSED, "title", 200, True)
    _each_refused(
        wired, lambda v: designer.create_task("t", v), MULTI_LINE_REFUSED, "body", 65536, False
    )


def test_text_hygiene_note_block_deny_refuse_and_store_nothing(wired: BoardEnv) -> None:
    wired.agent("claude-code+opus").create_task("t")
    impl, task, epoch = _holding(wired, "opencode+qwen")
    _each_refused(
        wired, lambda v: impl.note(task, epoch, v), MULTI_LINE_REFUSED, "note", 16384, False
    )
    _each_refused(
        wired, lambda v: impl.block(task, epoch, v), MULTI_LINE_REFUSED, "reason", 4000, False
    )
    with wired.operator() as op:
        _each_refused(
            wired,
            lambda v: admin.deny(op, "opencode+qwen", "implementer", v),
            MULTI_LINE_REFUSED,
            "reason",
            2000,
            False,
        )


def test_text_hygiene_annotate_and_return_refuse_and_store_nothing(wired: BoardEnv) -> None:
    wired.agent("claude-code+opus").create_task("t")
    impl, task, epoch = _holding(wired, "opencode+qwen")
    assert impl.advance(task, epoch, HEAD).ok
    reviewer, task, epoch = _holding(wired, "grok+grok-build")

    def annotate(body: str) -> Outcome:
        return reviewer.annotate(task, epoch, "src/x.py", 3, "new", "major", body)

    _each_refused(wired, annotate, MULTI_LINE_REFUSED, "body", 16384, False)
    _each_refused(
        wired,
        lambda v: reviewer.return_task(task, epoch, v),
        MULTI_LINE_REFUSED,
        "reason",
        4000,
        False,
    )
    # What is allowed is stored as written.
    out = annotate("Zeile 3: 👩\u200d💻 soft\u00adhyphen\tand a tab")
    assert out.ok, out.message
    with wired.operator() as op:
        stored = rows(op, "SELECT body FROM ainarres.annotations")
    assert stored == [{"body": "Zeile 3: 👩\u200d💻 soft\u00adhyphen\tand a tab"}]


def test_text_hygiene_what_a_client_cannot_send(wired: BoardEnv) -> None:
    designer = wired.agent("claude-code+opus")
    with pytest.raises(psycopg.DataError, match="NUL"):
        designer.conn.execute(b"SELECT %s::text", ("nul\x00",))
    designer.conn.rollback()
    with pytest.raises(UnicodeEncodeError):
        designer.conn.execute(b"SELECT %s::text", ("lone \ud800",))
