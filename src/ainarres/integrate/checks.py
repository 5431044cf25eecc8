"""The project's own checks (``[checks]`` in ainarres.toml on main), run on a checkout of
the merges before they may reach main.

The checks run the task's code, so they run as an untrusted process would: in the
sandbox (`agents/sandbox.py`), with the checkout writable and nothing else of this machine
(no credential, no passphrase, no agent socket), the network off unless the project asks
for it, and a time limit. The keys:

    [checks]
    test = "python -m pytest -q"   # a shell command, run in the checkout; exit 0 = pass
    pre_commit = false             # run `pre-commit run --all-files` first
    timeout = 600                  # seconds for all steps together
    network = false                # let the checks reach the network
    batch = 8                      # merges checked together by one run (the merge queue)
    max_batch = 32                 # the most a batch grows to (default 4 x batch)
    retries = 0                    # runs again after a failure; a later pass is flaky
    focus = "python -m pytest -q {tests}"  # runs only the named tests (bisection, ADR 0021)
    # or, for a project with nothing to check:
    # skip = "why there are no checks"

The merge queue (`integrate/queue.py`, ADR 0017): integrate merges up to ``batch``
approved tasks one onto the other and runs the checks once, on the last merge. A batch
that passes ships whole and the next one is twice as large (up to ``max_batch``); one
that fails is bisected over its merges to the task(s) that broke it, which go back to
their implementers with the failing output, while the others ship, and the next batch is
half as large. ``batch = 1`` checks every merge on its own (integrate before the queue);
it stays 1 unless ``max_batch`` is given. A run that fails is repeated up to ``retries``
times; a pass after a failure counts as a pass, said in the output and noted on the
tasks of that tree as flaky. With ``focus``, a failing batch is bisected by running only
the tests its failing run named (``{tests}``: their ids, shell-quoted), and what ships
has passed the whole checks all the same (ADR 0021).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from ainarres.agents import sandbox
from ainarres.errors import AinarresError, BadInput
from ainarres.git._env import clean_env
from ainarres.processes import kill_group

DEFAULT_TIMEOUT = 600.0
TAIL_LINES = 40
PROGRESS_EVERY = 10.0
# Enough bytes for TAIL_LINES of ordinary output; a huge log is never read whole.
_TAIL_BYTES = 64 * 1024
_KEYS = ("test", "pre_commit", "timeout", "network", "skip", "batch", "max_batch", "retries",
         "focus")  # fmt: skip
TESTS = "{tests}"  # where checks.focus takes the failing tests' ids
DEFAULT_BATCH = 8
GROWTH = 4  # max_batch defaults to GROWTH x batch
MOST = 1024  # a bound on batch and max_batch (a typo, not a queue)
MOST_RETRIES = 10
PRE_COMMIT = ("pre-commit", "run", "--all-files", "--show-diff-on-failure", "--color=never")
HOW_TO = (
    'add a [checks] table to ainarres.toml on main, e.g. test = "python -m pytest -q" '
    '(or skip = "why there is nothing to check")'
)
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Checks:
    """What to run: ``test`` is a shell command; ``timeout`` bounds the whole run, in
    seconds; ``skip`` (instead of a test) records why a project has no checks. ``batch``
    and ``max_batch`` size the merge queue's batches, ``retries`` the runs after a failure;
    ``focus`` runs only the tests named in place of ``{tests}`` (None: bisect whole runs)."""

    test: str
    pre_commit: bool = False
    timeout: float = DEFAULT_TIMEOUT
    network: bool = False
    skip: str | None = None
    batch: int = DEFAULT_BATCH
    max_batch: int = GROWTH * DEFAULT_BATCH
    retries: int = 0
    focus: str | None = None

    def focused(self, ids: list[str]) -> Checks | None:
        """These checks narrowed to the tests ``ids`` (None: no focus, or no ids)."""
        if self.focus is None or not ids:
            return None
        named = " ".join(shlex.quote(i) for i in ids)
        return replace(self, test=self.focus.replace(TESTS, named), pre_commit=False)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`run_checks`; ``failed`` names the step that failed."""

    ok: bool
    failed: str | None
    output_tail: str
    seconds: float

    @property
    def failing_tests(self) -> list[str]:
        """Test names the output says failed (unittest and pytest formats), up to 20."""
        found = re.findall(r"^(?:FAIL|ERROR): (\S+(?: \([^)]*\))?)|^FAILED (\S+::\S+)",
                           self.output_tail, re.MULTILINE)  # fmt: skip
        return [a or b for a, b in found][:20]

    @property
    def failing_ids(self) -> list[str]:
        """The failing tests as a runner takes them: pytest's node ids as they are; unittest's
        ``name (module.Class.name)`` as the dotted id (``module.Class`` + name before 3.11)."""
        ids = []
        for test in self.failing_tests:
            named = re.fullmatch(r"(\S+) \(([^)]*)\)", test)
            if named is None:
                ids.append(test)
                continue
            name, where = named.groups()
            ids.append(where if where.endswith(f".{name}") else f"{where}.{name}")
        return ids


def load_checks(config_text: str) -> Checks:
    """Parse the ``[checks]`` table of an ainarres.toml; a wrong or unknown key is refused."""
    try:
        data = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"ainarres.toml is not valid TOML ({exc}); fix the file") from exc
    table = data.get("checks")
    if not isinstance(table, dict):
        raise BadInput(f"ainarres.toml needs a [checks] table: {HOW_TO}")
    for key in table:
        if key not in _KEYS:
            raise BadInput(
                f"unknown key checks.{key} in ainarres.toml; the keys are {', '.join(_KEYS)}"
            )
    batch, max_batch, retries = _queue_keys(table)
    focus = table.get("focus")
    if focus is not None and (not isinstance(focus, str) or TESTS not in focus):
        raise BadInput("checks.focus must be a command with {tests} where the failing tests' "
                       'ids go, e.g. focus = "python -m pytest -q {tests}"')  # fmt: skip
    skip = table.get("skip")
    if skip is not None:
        if not isinstance(skip, str) or not skip.strip() or "test" in table:
            raise BadInput("checks.skip must be a non-empty reason, and goes without checks.test")
        return Checks(test="", skip=skip.strip(), batch=batch, max_batch=max_batch,
                      retries=retries)  # fmt: skip
    test = table.get("test")
    if not isinstance(test, str) or not test.strip():
        raise BadInput("checks.test must be a non-empty string: the command that runs the tests")
    pre_commit = table.get("pre_commit", False)
    if not isinstance(pre_commit, bool):
        raise BadInput("checks.pre_commit must be true or false")
    network = table.get("network", False)
    if not isinstance(network, bool):
        raise BadInput("checks.network must be true or false")
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    # bool is an int in Python, but `timeout = true` is surely a mistake.
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise BadInput("checks.timeout must be a positive number of seconds")
    return Checks(test=test, pre_commit=pre_commit, timeout=float(timeout), network=network,
                  batch=batch, max_batch=max_batch, retries=retries, focus=focus)  # fmt: skip


def _count(table: dict[str, object], key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    # bool is an int in Python, but `batch = true` is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"checks.{key} must be a whole number from {low} to {high}")
    return value


def _queue_keys(table: dict[str, object]) -> tuple[int, int, int]:
    """batch, max_batch and retries, checked; max_batch defaults to GROWTH x batch, except
    that batch = 1 (every merge checked on its own) stays 1 unless max_batch says more."""
    batch = _count(table, "batch", DEFAULT_BATCH, 1, MOST)
    most = _count(table, "max_batch", 1 if batch == 1 else min(MOST, GROWTH * batch), 1, MOST)
    if most < batch:
        raise BadInput(f"checks.max_batch ({most}) must be at least checks.batch ({batch})")
    retries = _count(table, "retries", 0, 0, MOST_RETRIES)
    return batch, most, retries


@dataclass(frozen=True)
class Confinement:
    """How the checks are confined: the sandbox's mounts (None: run unsandboxed)."""

    mounts: sandbox.Mounts | None


def _step(
    name: str,
    command: str | tuple[str, ...],
    workdir: Path,
    env: Mapping[str, str],
    out: IO[bytes],
    deadline: float,
    timeout: float,
    confined: Confinement,
    progress: Progress,
) -> str | None:
    """Run one step with its output appended to ``out``; return why it failed, or None."""
    shown = command if isinstance(command, str) else " ".join(command)
    out.write(f"ainarres: {name}: {shown}\n".encode())
    out.flush()  # the child writes to the same file; ours must land first
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return f"{name} did not start: the checks timeout was used up"
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    outer_env = dict(env)
    if confined.mounts is not None:
        argv = sandbox.wrap(argv, confined.mounts, workdir, env)
        outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=outer_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise AinarresError(
            f"cannot run {shown!r}: {exc.strerror}; install it or change [checks] in ainarres.toml"
        ) from exc
    started = time.monotonic()
    progress(name, 0.0)
    try:
        while True:
            try:
                code = proc.wait(timeout=min(PROGRESS_EVERY, max(0.0, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    kill_group(proc.pid)
                    proc.wait()
                    return f"{name} timed out: all checks must finish within {timeout:g}s"
                progress(name, time.monotonic() - started)
    finally:
        kill_group(proc.pid)
    return None if code == 0 else f"{name} failed with exit status {code}"


def _tail(out: IO[bytes]) -> str:
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - _TAIL_BYTES))
    lines = out.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-TAIL_LINES:])


def checks_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the checks: a plain PATH (the interpreter running ainarres first),
    LANG and a private HOME; nothing else of the integrator's (no passphrase file, no
    agent socket, no database URL)."""
    source = os.environ if base is None else base
    path = f"{Path(sys.executable).parent}{os.pathsep}{source.get('PATH', '/usr/bin:/bin')}"
    env = {k: source[k] for k in ("LANG", "LC_ALL") if k in source}
    env.update(PATH=path, HOME=sandbox.SANDBOX_HOME)
    return env


def run_checks(
    checks: Checks,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    mounts: sandbox.Mounts | None = None,
    progress: Progress = lambda _name, _seconds: None,
) -> CheckResult:
    """Run pre-commit (when enabled) and then the test command in ``workdir``.

    ``mounts`` confines each step to the sandbox (None runs them as this user, for a
    person who chose that). ``env`` replaces the environment (default: :func:`checks_env`),
    minus variables that pin git to another repository. The timeout covers both steps; on
    expiry the whole process group dies. ``progress`` hears (step, seconds) while a step
    runs (at 0.0 when it starts).
    """
    if not workdir.is_dir():
        raise BadInput(f"{workdir} is not a folder; check out the commit to test first")
    if checks.skip is not None:
        return CheckResult(True, None, f"no checks: {checks.skip}", 0.0)
    run_env = clean_env(checks_env() if env is None else env)
    start = time.monotonic()
    deadline = start + checks.timeout
    steps: list[tuple[str, str | tuple[str, ...]]] = []
    if checks.pre_commit:
        steps.append(("pre-commit", PRE_COMMIT))
    steps.append(("test", checks.test))
    failed: str | None = None
    # The project's config, not the caller, decides whether the checks reach the network.
    confined = Confinement(None if mounts is None else replace(mounts, network=checks.network))
    with tempfile.TemporaryFile() as out:
        for name, command in steps:
            why = _step(name, command, workdir, run_env, out, deadline, checks.timeout,
                        confined, progress)  # fmt: skip
            if why is not None:
                out.write(f"\nainarres: {why}\n".encode())
                failed = name
                break
        tail = _tail(out)
    return CheckResult(failed is None, failed, tail, time.monotonic() - start)
