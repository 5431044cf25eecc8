"""The CLI end to end, through the real console entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime

from boardenv import BoardEnv, rows


def _wire(board: BoardEnv) -> None:
    for args in (
        ["family", "add", "claude-code+opus", "--tool", "claude-code", "--model", "opus"],
        ["family", "add", "grok+grok-build", "--tool", "grok", "--model", "grok-build"],
        ["family", "add", "opencode+qwen", "--tool", "opencode", "--model", "qwen"],
        ["grant", "claude-code+opus", "designer"],
        ["grant", "opencode+qwen", "implementer"],
        ["grant", "grok+grok-build", "reviewer", "--for", "2h"],
    ):
        res = board.run(*args)
        assert res.returncode == 0, res.stderr


def test_cli_family_list_json_shows_grants(board: BoardEnv) -> None:
    _wire(board)
    data = json.loads(board.run("family", "list", "--json").stdout)
    assert [(f["name"], [g["role"] for g in f["grants"]]) for f in data] == [
        ("claude-code+opus", ["designer"]),
        ("grok+grok-build", ["reviewer"]),
        ("opencode+qwen", ["implementer"]),
    ]
    assert data[1]["grants"][0]["expires_at"] is not None
    cred = board.settings.state_dir / "credentials" / "families" / "grok+grok-build.json"
    assert oct(cred.stat().st_mode & 0o777) == "0o600"
    assert json.loads(cred.read_text())["user"] == data[1]["db_role"]


def test_cli_next_done_and_board_line(board: BoardEnv) -> None:
    _wire(board)
    assert board.run("brief", "Add word stats").returncode == 0
    nxt = json.loads(board.run("next", "--json", family="claude-code+opus").stdout)
    assert nxt["outcome"] == "ok" and nxt["role"] == "designer" and nxt["epoch"] == 1
    made = json.loads(
        board.run(
            "task",
            "create",
            "--title",
            "count words",
            "--parent",
            nxt["task"]["short_id"],
            "--json",
            family="claude-code+opus",
        ).stdout
    )
    assert made["task"]["parent_id"] == nxt["task"]["id"]
    assert board.run("done", nxt["task"]["short_id"], family="claude-code+opus").returncode == 0
    assert board.run("next", family="opencode+qwen", env={"AINARRES_AGENT": "i1"}).returncode == 0
    short = made["task"]["short_id"]
    assert (
        board.run(
            "done", short, "--head", "a" * 40, family="opencode+qwen", env={"AINARRES_AGENT": "i1"}
        ).returncode
        == 0
    )
    assert board.run("next", family="grok+grok-build").returncode == 0
    text = board.run("board").stdout
    assert re.search(rf"^- {short} \[reviewing\] grok\+grok-build age \d+s$", text, re.M), text
    assert "review 1 (1 held)" in text
    snap = json.loads(board.run("board", "--json").stdout)
    assert [a["short_id"] for a in snap["active"]] == [short]
    # the log tells the story, newest last
    log = json.loads(board.run("log", "--task", short, "--json").stdout)
    assert [e["kind"] for e in log] == ["created", "claimed", "advanced", "claimed"]
    # A step into review logs no head: the task row holds the head under review (ADR 0018).
    assert log[2]["data"] == {}
    listed = json.loads(board.run("task", "list", "--json").stdout)
    assert "T" in listed[0]["created_at"]  # ISO 8601 in every --json, as in `log --json`
    assert datetime.fromisoformat(listed[0]["created_at"]).tzinfo is not None
    shown = json.loads(board.run("task", "show", short, "--json").stdout)
    assert (
        shown["task"]["stage"] == "review"
        and shown["task"]["holder_family"] == "grok+grok-build"
        and shown["task"]["head_commit"] == "a" * 40
    )


def test_cli_next_exits_5_when_there_is_nothing_to_do(board: BoardEnv) -> None:
    _wire(board)
    res = board.run("next", family="opencode+qwen")
    assert res.returncode == 5
    assert "nothing to do for family opencode+qwen" in res.stderr


def test_cli_next_wait_wakes_on_notify_not_on_the_poll(board: BoardEnv) -> None:
    _wire(board)
    env = {
        **os.environ,
        "AINARRES_HOME": str(board.settings.state_dir),
        "AINARRES_DATABASE_URL": board.url,
        "AINARRES_FAMILY": "opencode+qwen",
    }
    # The backstop poll (60 s) is longer than the timeout (30 s): only a notification can
    # make this return a task.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ainarres",
            "next",
            "--wait",
            "--poll",
            "60",
            "--timeout",
            "30",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with board.operator() as conn:
        for _ in range(400):  # until the waiter says it sleeps
            if rows(conn, "SELECT 1 FROM ainarres.agents WHERE waiting_since IS NOT NULL"):
                break
            time.sleep(0.05)
    created = board.run("task", "create", "--title", "wake up", family="claude-code+opus")
    assert created.returncode == 0, created.stderr
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    got = json.loads(out)
    assert got["outcome"] == "ok" and got["task"]["title"] == "wake up"


def test_cli_help_explains_exit_codes(board: BoardEnv) -> None:
    res = board.run("--help")
    assert res.returncode == 0
    assert "5  nothing to claim" in res.stdout and "claim" in board.run("next", "--help").stdout
