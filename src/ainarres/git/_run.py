"""Run the git and ssh-keygen command-line tools with consistent error reporting."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ainarres.errors import EXIT_UNEXPECTED, AinarresError, Unavailable


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
            f"{_shown(args)} failed (exit {done.returncode}): "
            f"{one_line(stderr.strip() or stdout.strip())}",
            EXIT_UNEXPECTED,
        )
    return result


# What git, ssh and curl say when the other side cannot be reached or will not let us in.
_UNREACHABLE = (
    "could not read from remote repository", "does not appear to be a git repository",
    "could not resolve hostname", "could not resolve host", "connection refused",
    "connection timed out", "no route to host", "network is unreachable", "unable to access",
    "failed to connect to", "permission denied (publickey", "host key verification failed",
    "connection closed by", "kex_exchange_identification", "operation timed out",
    "connection reset by peer",
)  # fmt: skip


def unreachable(stderr: str) -> None:
    """Raise Unavailable (exit 4) with what to check when the ``stderr`` of a git command
    that talked to the hub says it could not be reached or refused this machine at the
    door; return otherwise. Call it only for such commands (clone, fetch, ls-remote, push):
    a local repository's errors can read alike."""
    lines = [line.strip() for line in stderr.splitlines()]
    said = next((line for line in lines if any(w in line.lower() for w in _UNREACHABLE)), None)
    if said is not None:
        # The line that says why, not what comes first (ssh's @@@ host key banner is long).
        raise Unavailable(
            f"cannot reach the hub: {one_line(said)}; check the hub's location "
            "(`ainarres hub show`), the network to it, and, for an ssh hub, that this "
            "family's key is in the hub's authorized_keys and its host key in known_hosts"
        )


def one_line(text: str, limit: int = 400) -> str:
    """A tool's (multi-line) message as one line, cut to `limit` characters."""
    line = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _shown(args: Sequence[str]) -> str:
    """The command as a person would type it: without our -c settings and folder pins."""
    shown: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-c":
            skip = True
        elif not arg.startswith(("--git-dir=", "--work-tree=")):
            shown.append(arg)
    return " ".join(shown)


# Every git command ainarres runs carries these: none of them may run a program that a
# repository's config, a worktree's files or the person's settings chose. Hooks of the hub
# are not affected: a local push clears GIT_CONFIG_PARAMETERS for receive-pack.
SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.attributesFile=/dev/null",
    "core.alternateRefsCommand=",
    "core.sshCommand=ssh",
    "core.pager=cat",
    "core.askPass=",
    "credential.helper=",
    "diff.external=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gpg.ssh.program=ssh-keygen",
    "protocol.ext.allow=never",
    "submodule.recurse=false",
    # A submodule's (or a repository's made at a submodule's path) own config could define
    # a filter; git status and diff would run it. Never look inside one.
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
    "fetch.recurseSubmodules=false",
    "push.recurseSubmodules=no",
    "gc.auto=0",
    "maintenance.auto=false",
)
_SAFE_ARGS = tuple(arg for item in SAFE_CONFIG for arg in ("-c", item))


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``git <args>`` with :data:`SAFE_CONFIG`; see :func:`run`."""
    return run(["git", *_SAFE_ARGS, *args], cwd=cwd, env=env, input_bytes=input_bytes, check=check)
