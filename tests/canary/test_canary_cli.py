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
    assert text.startswith("rate 0.3 (seed 11); 0 round(s) and 0 verdict(s) waiting")
    assert "warning" not in text
    report = json.loads(board.run("canary", "report", "--json").stdout)
    assert report["total"] == 0 and report["by_family"] == []
    assert board.run("canary", "report").stdout.strip() == "canaries: none judged yet"
    # The person's report carries the canaries; a family's does not.
    assert json.loads(board.run("report", "--json").stdout)["canaries"]["total"] == 0


def test_status_warns_when_the_service_seems_to_be_down(board: BoardEnv) -> None:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    assert board.run("canary", "set", "--rate", "0.5").returncode == 0
    task = board.agent("claude-code+opus").create_task("held").task
    impl = board.agent("opencode+qwen")
    claim = impl.claim_next()
    assert task is not None and claim.epoch is not None
    assert impl.advance(task.id, claim.epoch, "a" * 40).ok  # into review: held
    with board.operator() as conn:
        conn.execute(
            "UPDATE ainarres_private.review_holds SET since = now() - interval '5 minutes'"
        )
    text = board.run("canary", "status").stdout
    assert "1 round(s) and 0 verdict(s) waiting" in text
    assert "warning: one has waited 300 s" in text and "canary run" in text
