"""The project's checks: parsing [checks], running them, and a real run on the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ainarres.agents import sandbox
from ainarres.errors import AinarresError, BadInput
from ainarres.git.hub import init_hub
from ainarres.git.worktree import isolated_checkout
from ainarres.integrate import checks as checks_module
from ainarres.integrate.checks import TAIL_LINES, Checks, load_checks, run_checks

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox-repo"

PRE_COMMIT_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: no-todo
        name: no TODO markers
        entry: TODO
        language: pygrep
        files: \\.py$
"""


@pytest.fixture
def env() -> dict[str, str]:
    """This environment with the test interpreter's bin first (python, pre-commit)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_load_checks_of_the_sandbox_and_of_a_full_table() -> None:
    sandbox_repo = load_checks((SANDBOX / "ainarres.toml").read_text())
    assert sandbox_repo == Checks("python -m unittest discover -s tests", False, 600.0)
    full = load_checks(
        '[checks]\ntest = "make test"\npre_commit = true\ntimeout = 90\nnetwork = true\n'
    )
    assert full == Checks("make test", True, 90.0, network=True)
    assert load_checks('[checks]\nskip = "docs only"').skip == "docs only"
    assert isinstance(full.timeout, float)
    assert load_checks('other = 1\n[checks]\ntest = "t"\ntimeout = 0.5').timeout == 0.5


def test_load_checks_sizes_the_merge_queue() -> None:
    plain = load_checks('[checks]\ntest = "t"')
    assert (plain.batch, plain.max_batch, plain.retries) == (8, 32, 0)
    grown = load_checks('[checks]\ntest = "t"\nbatch = 4\nretries = 2')
    assert (grown.batch, grown.max_batch, grown.retries) == (4, 16, 2)
    alone = load_checks('[checks]\ntest = "t"\nbatch = 1')
    assert (alone.batch, alone.max_batch) == (1, 1)  # every merge on its own, as before
    assert load_checks('[checks]\ntest = "t"\nbatch = 1\nmax_batch = 8').max_batch == 8
    assert load_checks('[checks]\ntest = "t"\nbatch = 512').max_batch == 1024
    assert load_checks('[checks]\nskip = "docs"\nbatch = 2').batch == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[checks]\ntest = "t"\ntests = "t"', "unknown key checks.tests"),
        ('[checks]\ntest = "t"\npre-commit = true', "unknown key checks.pre-commit"),
        ("[checks]\ntest = 1", "checks.test must be a non-empty string"),
        ('[checks]\ntest = "  "', "checks.test must be a non-empty string"),
        ("[checks]\npre_commit = true", "checks.test must be a non-empty string"),
        ('[checks]\ntest = "t"\npre_commit = "yes"', "checks.pre_commit must be true or false"),
        ('[checks]\ntest = "t"\ntimeout = "60"', "checks.timeout must be a positive number"),
        ('[checks]\ntest = "t"\ntimeout = true', "checks.timeout must be a positive number"),
        ('[checks]\ntest = "t"\ntimeout = 0', "checks.timeout must be a positive number"),
        ('[checks]\ntest = "t"\ntimeout = inf', "checks.timeout must be a positive number"),
        ('test = "t"', "needs a \\[checks\\] table"),
        ('checks = "t"', "needs a \\[checks\\] table"),
        ("[checks\n", "not valid TOML"),
        ('[checks]\ntest = "t"\nnetwork = "yes"', "checks.network must be true or false"),
        ('[checks]\ntest = "t"\nskip = "why"', "checks.skip must be a non-empty reason"),
        ('[checks]\nskip = " "', "checks.skip must be a non-empty reason"),
        ('[checks]\ntest = "t"\nbatch = 0', "checks.batch must be a whole number from 1"),
        ('[checks]\ntest = "t"\nbatch = 2.5', "checks.batch must be a whole number"),
        ('[checks]\ntest = "t"\nbatch = true', "checks.batch must be a whole number"),
        ('[checks]\ntest = "t"\nbatch = 2000', "checks.batch must be a whole number"),
        ('[checks]\ntest = "t"\nbatch = 8\nmax_batch = 4', "must be at least checks.batch"),
        ('[checks]\ntest = "t"\nretries = -1', "checks.retries must be a whole number from 0"),
        ('[checks]\ntest = "t"\nretries = "2"', "checks.retries must be a whole number"),
        ('[checks]\ntest = "t"\nfocus = "pytest"', "checks.focus must be a command with"),
        ('[checks]\ntest = "t"\nfocus = 1', "checks.focus must be a command with"),
    ],
)
def test_load_checks_refuses_bad_tables(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        load_checks(text)


def test_passing_and_failing_test_commands(tmp_path: Path, env: dict[str, str]) -> None:
    ok = run_checks(Checks("echo hello from $PWD"), tmp_path, env=env)
    assert (ok.ok, ok.failed) == (True, None)
    assert ok.output_tail.splitlines() == [
        "ainarres: test: echo hello from $PWD",
        f"hello from {tmp_path}",
    ]
    assert 0 <= ok.seconds < 30
    bad = run_checks(Checks("echo boom >&2; exit 3"), tmp_path, env=env)
    assert (bad.ok, bad.failed) == (False, "test")
    assert bad.output_tail.splitlines()[-3:] == [
        "boom",
        "",
        "ainarres: test failed with exit status 3",
    ]


def test_output_tail_keeps_the_last_lines(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_checks(Checks("for i in $(seq 1 100); do echo line $i; done"), tmp_path, env=env)
    lines = result.output_tail.splitlines()
    assert len(lines) == TAIL_LINES == 40
    assert lines[0] == "line 61" and lines[-1] == "line 100"


def test_env_replaces_the_environment_without_git_pinning(
    tmp_path: Path, env: dict[str, str]
) -> None:
    given = {**env, "CHECK_ME": "given", "GIT_DIR": str(tmp_path / "elsewhere")}
    result = run_checks(Checks('echo "$CHECK_ME ${GIT_DIR-unset}"'), tmp_path, env=given)
    assert result.output_tail.splitlines()[-1] == "given unset"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")  # a zombie is dead


def test_timeout_kills_the_whole_process_group(tmp_path: Path, env: dict[str, str]) -> None:
    command = "sleep 60 & echo $! > bg.pid; echo started; sleep 60"
    result = run_checks(Checks(command, timeout=1), tmp_path, env=env)
    assert (result.ok, result.failed) == (False, "test")
    assert result.output_tail.splitlines()[-1] == (
        "ainarres: test timed out: all checks must finish within 1s"
    )
    assert "started" in result.output_tail
    assert 1 <= result.seconds < 20
    background = int((tmp_path / "bg.pid").read_text())
    deadline = time.monotonic() + 5
    while _running(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(background)


def test_missing_workdir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not a folder"):
        run_checks(Checks("true"), tmp_path / "nope")


def git_repo_with(path: Path, files: dict[str, str]) -> Path:
    """A git repository with ``files`` staged (pre-commit --all-files reads the index)."""
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    for name, text in files.items():
        (path / name).write_text(text)
    subprocess.run(["git", "add", "--all"], cwd=path, check=True)
    return path


def test_pre_commit_runs_first_and_its_failure_stops_the_tests(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = {".pre-commit-config.yaml": PRE_COMMIT_CONFIG}
    checks = Checks("touch tests-ran", pre_commit=True)
    clean = git_repo_with(tmp_path / "clean", {**config, "a.py": "x = 1\n"})
    passed = run_checks(checks, clean, env=env)
    assert (passed.ok, passed.failed) == (True, None), passed.output_tail
    assert "no TODO markers" in passed.output_tail
    assert (clean / "tests-ran").exists()

    todo = git_repo_with(tmp_path / "todo", {**config, "a.py": "x = 1  # TODO\n"})
    failed = run_checks(checks, todo, env=env)
    assert (failed.ok, failed.failed) == (False, "pre-commit")
    assert "a.py:1:x = 1  # TODO" in failed.output_tail
    assert not (todo / "tests-ran").exists()
    # Without pre_commit the same checkout passes: only the test command runs.
    assert run_checks(Checks("true"), todo, env=env).ok


def test_pre_commit_not_installed_is_an_error_not_a_failed_check(tmp_path: Path) -> None:
    repo = git_repo_with(tmp_path / "r", {"a.py": "x = 1\n"})
    no_tools = {"PATH": str(tmp_path / "empty-bin")}
    with pytest.raises(AinarresError, match="cannot run 'pre-commit run --all-files"):
        run_checks(Checks("true", pre_commit=True), repo, env=no_tools)


def test_the_sandbox_checks_pass_on_main_and_fail_when_broken(
    tmp_path: Path, env: dict[str, str]
) -> None:
    hub = init_hub(tmp_path / "hub.git", SANDBOX)
    with isolated_checkout(hub.path, "main", tmp_path / "scratch") as checkout:
        checks = load_checks((checkout / "ainarres.toml").read_text())
        passed = run_checks(checks, checkout, env=env)
        assert passed.ok, passed.output_tail
        assert passed.output_tail.splitlines()[-1] == "OK"
        stats = checkout / "sandbox" / "stats.py"
        stats.write_text(
            stats.read_text() + "\n\ndef word_count(text: str) -> int:\n    return 0\n"
        )
        failed = run_checks(checks, checkout, env=env)
    assert (failed.ok, failed.failed) == (False, "test")
    assert "FAILED (failures=" in failed.output_tail


SANDBOXED = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None, reason=f"no sandbox: {sandbox.unavailable_reason()}"
)


@SANDBOXED
def test_sandboxed_checks_see_no_secret_no_socket_and_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: the checks run the task's code. In the sandbox it cannot read the
    integrator's passphrase file or anything outside its checkout, reach a unix socket,
    or the network (unless the project asks for it)."""
    secret = Path("/var/tmp") / f"ainarres-checks-{os.getpid()}.passphrase"
    secret.write_text("the integrator's passphrase\n")
    listener = __import__("socket").socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    probe = tmp_path / "checkout"
    probe.mkdir()
    (probe / "probe.py").write_text(
        "import os, socket, sys\n"
        "found = []\n"
        f"try: open({str(secret)!r}).read(); found.append('secret')\n"
        "except OSError: pass\n"
        "if os.environ.get('AINARRES_PASSPHRASE_FILE'): found.append('passphrase env')\n"
        "try: socket.socket(socket.AF_UNIX); found.append('unix socket')\n"
        "except OSError: pass\n"
        f"try: socket.create_connection(('127.0.0.1', {port}), timeout=2); found.append('net')\n"
        "except OSError: pass\n"
        "open('written-inside', 'w').write('ok')\n"
        "print('found:', ','.join(found) or 'nothing')\n"
        "sys.exit(1 if found else 0)\n"
    )
    monkeypatch.setenv("AINARRES_PASSPHRASE_FILE", str(secret))  # as `integrate` may run
    mounts = sandbox.Mounts(writable=(probe,))  # the caller's network wish does not count
    try:
        closed = run_checks(Checks("python probe.py"), probe, mounts=mounts)
        assert closed.ok, closed.output_tail
        assert "found: nothing" in closed.output_tail
        assert (probe / "written-inside").exists()
        opened = run_checks(Checks("python probe.py", network=True), probe, mounts=mounts)
        assert "found: net" in opened.output_tail  # only what the project asked for
    finally:
        listener.close()
        secret.unlink()


def test_progress_is_reported_while_a_step_runs(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks_module, "PROGRESS_EVERY", 0.1)
    heard: list[tuple[str, float]] = []
    result = run_checks(
        Checks("sleep 0.5"), tmp_path, env=env, progress=lambda step, s: heard.append((step, s))
    )
    assert result.ok
    assert heard and {step for step, _ in heard} == {"test"}
    assert heard[0] == ("test", 0.0) and heard[-1][1] > 0


def test_failing_tests_are_named(tmp_path: Path, env: dict[str, str]) -> None:
    out = (
        "FAIL: test_counts (tests.test_stats.StatsTest.test_counts)\n"
        "ERROR: test_other (tests.test_x.X.test_other)\n"
        "FAILED tests/test_y.py::test_y - assert 1 == 2\n"
    )
    (tmp_path / "out.txt").write_text(out)
    result = run_checks(Checks("cat out.txt; exit 1"), tmp_path, env=env)
    assert result.failing_tests == [
        "test_counts (tests.test_stats.StatsTest.test_counts)",
        "test_other (tests.test_x.X.test_other)",
        "tests/test_y.py::test_y",
    ]


def test_failing_ids_are_what_the_runners_take_and_focus_quotes_them(
    tmp_path: Path, env: dict[str, str]
) -> None:
    out = (
        "FAIL: test_counts (tests.test_stats.StatsTest.test_counts)\n"  # 3.11+
        "ERROR: test_old (tests.test_x.X)\n"  # before 3.11: the class, then the name
        "FAILED tests/test_y.py::test_y - assert 1 == 2\n"
        "FAILED tests/t.py::test_z[$(touch${IFS}pwned)] - hostile\n"
    )
    (tmp_path / "out.txt").write_text(out)
    result = run_checks(Checks("cat out.txt; exit 1"), tmp_path, env=env)
    assert result.failing_ids == [
        "tests.test_stats.StatsTest.test_counts",
        "tests.test_x.X.test_old",
        "tests/test_y.py::test_y",
        "tests/t.py::test_z[$(touch${IFS}pwned)]",
    ]
    checks = load_checks('[checks]\ntest = "t"\npre_commit = true\nfocus = "echo {tests}"')
    focused = checks.focused(result.failing_ids)
    assert focused is not None and not focused.pre_commit and focused.focus == checks.focus
    echoed = run_checks(focused, tmp_path, env=env)
    assert echoed.ok and "tests/t.py::test_z[$(touch${IFS}pwned)]" in echoed.output_tail
    assert not (tmp_path / "pwned").exists()  # an id is one word, never shell
    assert checks.focused([]) is None and load_checks('[checks]\ntest = "t"').focused(["a"]) is None


def test_a_focused_run_runs_only_the_tests_a_whole_run_named(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_a.py").write_text(
        "import unittest\n"
        "class A(unittest.TestCase):\n"
        "    def test_good(self):\n        pass\n"
        "    def test_bad(self):\n        self.fail('broken')\n"
        "    def test_slow(self):\n        open('slow-ran', 'w').close()\n"
    )
    checks = load_checks('[checks]\ntest = "python -m unittest"\n'
                         'focus = "python -m unittest {tests}"')  # fmt: skip
    whole = run_checks(checks, tmp_path, env=env)
    assert not whole.ok and whole.failing_ids == ["tests.test_a.A.test_bad"]
    (tmp_path / "slow-ran").unlink()
    focused = checks.focused(whole.failing_ids)
    assert focused is not None
    probe = run_checks(focused, tmp_path, env=env)
    assert not probe.ok and probe.failing_ids == ["tests.test_a.A.test_bad"]
    assert "Ran 1 test" in probe.output_tail and not (tmp_path / "slow-ran").exists()
