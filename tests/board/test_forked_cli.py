"""The tests' forked CLI (tests/forkserver.py, ADR 0023) answers as a fresh interpreter does,
and leaves nothing behind when a command hangs or its test worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import forkserver
import pytest
from boardenv import BoardEnv, rows

IMPLEMENTER = "opencode+qwen"


def _wired(board: BoardEnv) -> BoardEnv:
    board.add_family("claude-code+opus", "designer")
    board.add_family(IMPLEMENTER, "implementer")
    return board


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("board", "--json"),
        ("family", "list", "--json"),
        ("task", "show", "zz"),  # bad input: exit 2
        ("brief", "bad \udcff title"),  # an argument that was not UTF-8
        ("no-such-command",),
    ],
    ids=["version", "board", "families", "bad-task-id", "not-utf8", "unknown"],
)
def test_a_forked_command_answers_as_a_fresh_one(
    board: BoardEnv, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    _wired(board)
    forked = board.run(*args)
    monkeypatch.setenv(forkserver.FRESH_ENV, "1")
    fresh = board.run(*args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)  # fmt: skip
    assert forked.stdout or forked.stderr


def test_stdin_environment_and_exit_code_reach_the_forked_command(board: BoardEnv) -> None:
    _wired(board)
    made = board.run("brief", "from stdin", "--body-file", "-", stdin="line one\nline two\n",
                     family="claude-code+opus")  # fmt: skip
    assert made.returncode == 0, made.stderr
    with board.operator() as conn:
        [task] = rows(conn, "SELECT body FROM ainarres.tasks WHERE title = 'from stdin'")
    assert task["body"] == "line one\nline two\n"
    # the family comes from the environment the test gave: an implementer creates no task
    refused = board.run("task", "create", "--title", "not mine", family=IMPLEMENTER)
    assert refused.returncode != 0 and "not_allowed" in refused.stderr, refused.stderr


def test_a_command_past_its_timeout_is_killed(board: BoardEnv) -> None:
    _wired(board)
    env = {**os.environ, "AINARRES_HOME": str(board.settings.state_dir),
           "AINARRES_DATABASE_URL": board.url, "AINARRES_FAMILY": IMPLEMENTER}  # fmt: skip
    args = ["next", "--wait", "--poll", "60", "--timeout", "60"]  # no task: it waits
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run(args, env, None, timeout=2)
    server = forkserver._server  # noqa: SLF001
    assert server is not None
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    deadline = time.monotonic() + 10
    while children.read_text().strip():  # the handler goes once its command is dead
        assert time.monotonic() < deadline, children.read_text()
        time.sleep(0.05)
    again = board.run("--version")  # and the server serves the next one
    assert again.returncode == 0, again.stderr


CLIENT = """
import os, sys
sys.path.insert(0, sys.argv[1])
import forkserver
done = forkserver.run(["--version"], dict(os.environ), None, 30)
assert done.returncode == 0, done.stderr
print(forkserver._server.proc.pid, forkserver._server.folder, flush=True)
os.kill(os.getpid(), 9)
"""


def test_the_server_leaves_with_a_killed_test_worker() -> None:
    tests = Path(__file__).parents[1]
    worker = subprocess.run([sys.executable, "-c", CLIENT, str(tests)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    pid, folder = worker.stdout.split()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() or Path(folder).exists():
        assert time.monotonic() < deadline, f"server {pid} or {folder} outlived its worker"
        time.sleep(0.05)
