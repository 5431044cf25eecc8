"""Run the git and ssh-keygen command-line tools with consistent error reporting."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ainarres.errors import EXIT_UNEXPECTED, AinarresError


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` and return the finished process with text stdout and stderr.

    With ``check`` a non-zero exit becomes an AinarresError that quotes the command and
    its stderr, so the user sees git's own explanation rather than a traceback.
    """
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env=None if env is None else dict(env),
            input=input_bytes,
            # stdin is closed when there is no input so that a tool that unexpectedly
            # prompts (ssh-keygen "Overwrite?", git credentials) fails instead of hanging.
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise AinarresError(
            f"cannot run {args[0]!r}: it is not installed or not on PATH; install it and retry",
            EXIT_UNEXPECTED,
        ) from exc
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    result = subprocess.CompletedProcess(done.args, done.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise AinarresError(
            f"{' '.join(args)} failed (exit {done.returncode}): {stderr.strip() or stdout.strip()}",
            EXIT_UNEXPECTED,
        )
    return result


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``git <args>``; see :func:`run`."""
    return run(["git", *args], cwd=cwd, env=env, input_bytes=input_bytes, check=check)
