"""Bad input through the real CLI: one clear line on stderr, non-zero exit, nothing changed."""

from __future__ import annotations

import pytest
from boardenv import BoardEnv

EVIL = "'; DROP TABLE ainarres.tasks; --"


@pytest.fixture
def wired(board: BoardEnv) -> BoardEnv:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    board.brief("existing brief")
    return board


CASES = [
    # (args, family, exit code, text the one line must contain)
    (["next"], "no-such+family", 1, "no credential for family no-such+family"),
    (["next"], None, 2, "pass --family NAME"),
    (["grant", "no-such+family", "implementer"], None, 1, "no family 'no-such+family'"),
    (["grant", "opencode+qwen", "overlord"], None, 1, "no role 'overlord'"),
    (["grant", "opencode+qwen", "operator"], None, 1, "role operator is for a person"),
    (["grant", "opencode+qwen", "implementer", "--for", "soon"], None, 2, "duration 'soon'"),
    (["deny", "opencode+qwen", "implementer", "--reason", ""], None, 2, "reason must not be empty"),
    (["lift", "opencode+qwen", "implementer", "--reason", "x"], None, 1, "no active denial"),
    (["task", "show", "00000000-0000-4000-8000-000000000000"], None, 1, "no task"),
    (["task", "show", "zz!"], None, 2, "malformed task id 'zz!'"),
    (["task", "show", "abc"], None, 2, "malformed task id"),
    (["task", "show", "ffff"], None, 1, "no task ending in ffff"),
    (["done", "ffff"], "opencode+qwen", 1, "no task ending in ffff"),
    (["task", "list", "--stage", "nope"], None, 2, "no stage 'nope'"),
    (["brief", ""], None, 2, "title must not be empty"),
    (["brief", "   "], None, 2, "title must not be empty"),
    (["brief", "two\nlines"], None, 2, "title must be one line"),
    (["brief", "x" * 201], None, 2, "title is 201 bytes; the limit is 200"),
    (["brief", "t", "--priority", "5000"], None, 2, "5000 is not in the range -1000<=x<=1000"),
    (["brief", "t", "--priority", "nan"], None, 2, "is not a valid integer"),
    (["task", "create", "--title", ""], "claude-code+opus", 2, "title must not be empty"),
    (["task", "create", "--title", EVIL], "opencode+qwen", 1, "needs the designer role"),
    (
        ["task", "create", "--title", "t", "--depends-on", "0000"],
        "claude-code+opus",
        1,
        "no task ending in 0000",
    ),
    (["family", "add", EVIL, "--tool", "t", "--model", "m"], None, 2, "family name"),
    (["family", "add", "ok+name", "--tool", EVIL, "--model", "m"], None, 2, "tool"),
    (
        ["family", "add", "claude-code+opus", "--tool", "t", "--model", "m"],
        None,
        2,
        "already exists",
    ),
    (["family", "show", EVIL], None, 1, "no family"),
    (["log", "--task", EVIL], None, 2, "malformed task id"),
]


@pytest.mark.parametrize(
    ("args", "family", "code", "text"), CASES, ids=[" ".join(c[0])[:40] for c in CASES]
)
def test_bad_input_one_line_error_and_nothing_changed(
    wired: BoardEnv, args: list[str], family: str | None, code: int, text: str
) -> None:
    before = wired.snapshot()
    res = wired.run(*args, family=family)
    assert res.returncode == code, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(("ainarres: ", "Error: ")), lines
    assert text in lines[0]
    assert wired.snapshot() == before


def test_bad_input_oversized_body_is_refused(wired: BoardEnv, tmp_path: object) -> None:
    before = wired.snapshot()
    res = wired.run("brief", "big", "--body-file", "-", stdin="x" * 70000)
    assert res.returncode == 2
    assert "body is 65537 bytes; the limit is 65536" in res.stderr
    assert wired.snapshot() == before


def test_bad_input_sql_metacharacters_are_stored_verbatim(wired: BoardEnv) -> None:
    res = wired.run("brief", EVIL, "--body", "$$; SELECT pg_sleep(10); $$ \\ %s %(x)s", "--json")
    assert res.returncode == 0, res.stderr
    res = wired.run("task", "list", "--json")
    titles = {t["title"] for t in __import__("json").loads(res.stdout)}
    assert titles == {"existing brief", EVIL}
    shown = wired.run(
        "task", "show", __import__("json").loads(res.stdout)[-1]["short_id"], "--json"
    )
    assert __import__("json").loads(shown.stdout)["task"]["body"].startswith("$$; SELECT pg_sleep")


def test_bad_input_verb_on_a_task_held_by_another_agent(wired: BoardEnv) -> None:
    wired.run("grant", "claude-code+opus", "designer")
    created = wired.run("task", "create", "--title", "t", "--json", family="claude-code+opus")
    assert created.returncode == 0, created.stderr
    claim = wired.run("next", "--agent", "holder", family="opencode+qwen")
    assert claim.returncode == 0, claim.stderr
    short = claim.stdout.split()[0]
    epoch = claim.stdout.split("epoch ")[1].split()[0]
    before = wired.snapshot()
    res = wired.run("done", short, "--agent", "intruder", "--epoch", epoch, family="opencode+qwen")
    assert res.returncode == 1
    assert "ainarres: not_allowed: task" in res.stderr and "is not held by agent" in res.stderr
    res = wired.run("done", short, "--agent", "intruder", family="opencode+qwen")
    assert res.returncode == 2 and "holds no recorded claim" in res.stderr
    assert wired.snapshot() == before
    assert wired.run("done", short, "--agent", "holder", family="opencode+qwen").returncode == 0
