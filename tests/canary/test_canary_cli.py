"""`ainarres canary` through the real CLI: settings, status, report, and bad input that
changes nothing."""

from __future__ import annotations

import json

import pytest
from boardenv import BoardEnv


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["canary", "set", "--rate", "2"], 2, "from 0 to 0.9"),
        (["canary", "set", "--rate", "-0.1"], 2, "from 0 to 0.9"),
        (["canary", "set", "--rate", "nan"], 2, "from 0 to 0.9"),
        (["canary", "set"], 2, "Missing option '--rate'"),
        (["canary", "set", "--rate", "x"], 2, "is not a valid float"),
        (["canary", "run", "--once"], 1, "no hub yet"),
        (["canary", "run", "--interval", "0"], 2, "0.05<=x<=60"),
    ],
)
def test_bad_canary_input_is_refused_and_changes_nothing(
    board: BoardEnv, args: list[str], code: int, says: str
) -> None:
    before = board.snapshot()
    done = board.run(*args)
    assert done.returncode == code, done.stderr
    assert says in done.stderr + done.stdout
    assert board.snapshot() == before


def test_set_status_and_report(board: BoardEnv) -> None:
    done = board.run("canary", "set", "--rate", "0.25", "--seed", "11")
    assert done.returncode == 0, done.stderr
    assert "canary rate 0.25" in done.stdout and "canary run" in done.stdout
    status = json.loads(board.run("canary", "status", "--json").stdout)
    assert status["settings"]["rate"] == 0.25 and status["settings"]["seed"] == 11
    assert status["holds"] == []
    board.run("canary", "set", "--rate", "0.3")  # the seed is kept
    status = json.loads(board.run("canary", "status", "--json").stdout)
    assert (status["settings"]["rate"], status["settings"]["seed"]) == (0.3, 11)
    text = board.run("canary", "status").stdout
    assert text.startswith("rate 0.3 (seed 11); 0 round(s) waiting")
    report = json.loads(board.run("canary", "report", "--json").stdout)
    assert report["total"] == 0 and report["by_family"] == []
    assert board.run("canary", "report").stdout.strip() == "canaries: none judged yet"
    # The person's report carries the canaries; a family's does not.
    assert json.loads(board.run("report", "--json").stdout)["canaries"]["total"] == 0
