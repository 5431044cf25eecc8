"""Bad annotations and verdicts: a clear one-line error, and nothing half-written."""

from __future__ import annotations

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, OTHER_IMPLEMENTER, REVIEWER, Project
from test_review import _implement

ESC = "\x1b[31mred\x1b[0m\x07"


@pytest.fixture
def held(proj: Project) -> tuple[Project, str]:
    task = must(proj.agent(DESIGNER).create_task("t").task)
    _implement(proj, task.short_id, "sandbox/words.py", "a = 1\nb = 2\n")
    assert proj.board.run("next", family=REVIEWER).returncode == 0
    return proj, task.short_id


CASES = [
    (
        ["--file", "../../etc/passwd", "--line", "1"],
        2,
        "file '../../etc/passwd' is not in this diff (files: sandbox/words.py)",
    ),
    (
        ["--file", "sandbox/words.py", "--line", "3"],
        2,
        "line 3 of sandbox/words.py (new side) is not in the diff; lines shown: 1-2",
    ),
    (["--file", "sandbox/words.py", "--line", "-3"], 2, "-3 is not in the range 1<=x<=10000000"),
    (["--file", "sandbox/words.py", "--line", "99999999999"], 2, "99999999999 is not in the range"),
    (
        ["--file", "sandbox/words.py", "--line", "1", "--side", "old"],
        2,
        "line 1 of sandbox/words.py (old side) is not in the diff; lines shown: none (the old "
        "side of this file is empty)",
    ),
    (["--file", "sandbox/words.py", "--line", "x"], 2, "'x' is not a valid integer"),
    (["--file", "sandbox/words.py", "--line", "1", "--severity", "fatal"], 2, "'fatal' is not"),
]


@pytest.mark.parametrize(("args", "code", "text"), CASES, ids=[c[2][:30] for c in CASES])
def test_review_bad_annotation_target(
    held: tuple[Project, str], args: list[str], code: int, text: str
) -> None:
    proj, short = held
    before = proj.board.snapshot()
    res = proj.board.run("review", "annotate", short, *args, "--body", "b", family=REVIEWER)
    assert res.returncode == code, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and text in res.stderr
    assert proj.board.snapshot() == before


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("", "body must not be empty"),
        ("   \n\t", "body must not be empty"),
        ("x" * (1024 * 1024), "the annotation's body is 1048576 bytes; the limit is 16384"),
        ("\ufeffhidden", "contains U+FEFF (an invisible character) at character 1"),
        ("ok \u202eevil", "contains U+202E (a bidi control) at character 4"),
    ],
)
def test_review_bad_annotation_body(held: tuple[Project, str], body: str, text: str) -> None:
    proj, short = held
    before = proj.board.snapshot()
    res = proj.board.run(
        "review",
        "annotate",
        short,
        "--file",
        "sandbox/words.py",
        "--line",
        "1",
        "--body-file",
        "-",
        family=REVIEWER,
        stdin=body,
    )
    assert res.returncode == 2 and text in res.stderr
    assert proj.board.snapshot() == before


def test_review_escapes_are_refused_before_the_board_or_the_notes(
    held: tuple[Project, str],
) -> None:
    """Finding 9: an annotation with ESC/ANSI sequences went raw into the hub's git note.
    Now it is refused in one line, and nothing reaches the board or the hub."""
    proj, short = held
    before, refs = proj.board.snapshot(), proj.refs()
    res = proj.board.run(
        "review",
        "annotate",
        short,
        "--file",
        "sandbox/words.py",
        "--line",
        "2",
        "--body",
        ESC,
        family=REVIEWER,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "ainarres: error: the annotation's body contains U+001B (a control character) at "
        "character 1; remove it"
    ]
    assert proj.board.snapshot() == before and proj.refs() == refs


def test_review_verdicts_by_someone_not_holding_the_review(held: tuple[Project, str]) -> None:
    proj, short = held
    before = proj.board.snapshot()
    for family in (IMPLEMENTER, OTHER_IMPLEMENTER):
        for args in (
            ["approve", short],
            ["return", short, "--reason", "no"],
            ["annotate", short, "--file", "sandbox/words.py", "--line", "1", "--body", "x"],
        ):
            res = proj.board.run("review", *args, family=family)
            assert res.returncode in (1, 2), res.stderr
            assert len(res.stderr.strip().splitlines()) == 1
            assert "holds no recorded claim" in res.stderr or "not held by" in res.stderr
    assert proj.board.snapshot() == before
