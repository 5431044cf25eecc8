"""The project's own checks (``[checks]`` in ainarres.toml), run on a checkout before a merge.

The checkout is a plain folder here (a scratch worktree made by ``ainarres.git.worktree``);
this module only parses the configuration and runs commands in it.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ainarres.errors import AinarresError, BadInput
from ainarres.git._env import clean_env

DEFAULT_TIMEOUT = 600.0
TAIL_LINES = 40
# Enough bytes for TAIL_LINES of ordinary output; a huge log is never read whole.
_TAIL_BYTES = 64 * 1024
_KEYS = ("test", "pre_commit", "timeout")
PRE_COMMIT = ("pre-commit", "run", "--all-files", "--show-diff-on-failure", "--color=never")


@dataclass(frozen=True)
class Checks:
    """What to run: ``test`` is a shell command; ``timeout`` bounds the whole run, in seconds."""

    test: str
    pre_commit: bool = False
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`run_checks`; ``failed`` names the step that failed."""

    ok: bool
    failed: str | None
    output_tail: str
    seconds: float


def load_checks(config_text: str) -> Checks:
    """Parse the ``[checks]`` table of an ainarres.toml; a wrong or unknown key is refused."""
    try:
        data = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"ainarres.toml is not valid TOML ({exc}); fix the file") from exc
    table = data.get("checks")
    if not isinstance(table, dict):
        raise BadInput(
            'ainarres.toml needs a [checks] table with test = "<command that runs the tests>"'
        )
    for key in table:
        if key not in _KEYS:
            raise BadInput(
                f"unknown key checks.{key} in ainarres.toml; the keys are {', '.join(_KEYS)}"
            )
    test = table.get("test")
    if not isinstance(test, str) or not test.strip():
        raise BadInput("checks.test must be a non-empty string: the command that runs the tests")
    pre_commit = table.get("pre_commit", False)
    if not isinstance(pre_commit, bool):
        raise BadInput("checks.pre_commit must be true or false")
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    # bool is an int in Python, but `timeout = true` is surely a mistake.
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise BadInput("checks.timeout must be a positive number of seconds")
    return Checks(test=test, pre_commit=pre_commit, timeout=float(timeout))


def _kill_group(pgid: int) -> None:
    # The shell's children (the test runner, servers it starts) share its process
    # group; killing only the shell would leave them running and holding the checkout.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _step(
    name: str,
    command: str | tuple[str, ...],
    workdir: Path,
    env: Mapping[str, str],
    out: IO[bytes],
    deadline: float,
    timeout: float,
) -> str | None:
    """Run one step with its output appended to ``out``; return why it failed, or None."""
    shown = command if isinstance(command, str) else " ".join(command)
    out.write(f"ainarres: {name}: {shown}\n".encode())
    out.flush()  # the child writes to the same file; ours must land first
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return f"{name} did not start: the checks timeout was used up"
    try:
        proc = subprocess.Popen(
            command if isinstance(command, str) else list(command),
            shell=isinstance(command, str),
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise AinarresError(
            f"cannot run {shown!r}: {exc.strerror}; install it or change [checks] in ainarres.toml"
        ) from exc
    try:
        code = proc.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        return f"{name} timed out: all checks must finish within {timeout:g}s"
    finally:
        _kill_group(proc.pid)
    return None if code == 0 else f"{name} failed with exit status {code}"


def _tail(out: IO[bytes]) -> str:
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - _TAIL_BYTES))
    lines = out.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-TAIL_LINES:])


def run_checks(
    checks: Checks, workdir: Path, *, env: Mapping[str, str] | None = None
) -> CheckResult:
    """Run pre-commit (when enabled) and then the test command in ``workdir``.

    ``workdir`` must be a git checkout when pre-commit runs. ``env`` replaces the
    environment (default: this process's), minus variables that pin git to another
    repository. The timeout covers both steps; on expiry the whole process group dies.
    """
    if not workdir.is_dir():
        raise BadInput(f"{workdir} is not a folder; check out the commit to test first")
    run_env = clean_env(env)
    start = time.monotonic()
    deadline = start + checks.timeout
    steps: list[tuple[str, str | tuple[str, ...]]] = []
    if checks.pre_commit:
        steps.append(("pre-commit", PRE_COMMIT))
    steps.append(("test", checks.test))
    failed: str | None = None
    with tempfile.TemporaryFile() as out:
        for name, command in steps:
            why = _step(name, command, workdir, run_env, out, deadline, checks.timeout)
            if why is not None:
                out.write(f"\nainarres: {why}\n".encode())
                failed = name
                break
        tail = _tail(out)
    return CheckResult(failed is None, failed, tail, time.monotonic() - start)
