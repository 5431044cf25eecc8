"""`ainarres hub serve HUB`: the forced command of the hub's ssh account.

sshd runs it for every connection of a key in the hub account's authorized_keys (made by
`ainarres hub authorized-keys`), with what the client asked for in SSH_ORIGINAL_COMMAND.
It lets git's two transfer services through to this one hub and nothing else: a push
(`git-receive-pack`, so the gate, the hub's pre-receive hook, decides every ref) or a
fetch (`git-upload-pack`). A shell, another repository, `git-upload-archive`, an
interactive login: each is refused with one line on stderr and a non-zero exit.

Run on every connection, so it imports only the standard library and never the board;
`python -m ainarres hub serve` reaches it before the CLI is loaded.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

# The name git clients send, and the git subcommand that serves it.
SERVICES = {"git-receive-pack": "receive-pack", "git-upload-pack": "upload-pack"}
COMMAND_ENV = "SSH_ORIGINAL_COMMAND"
PREFIX = "ainarres hub serve:"
MAX_COMMAND = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# What git (and its hook, the gate) gets of the session's environment: an allowlist, so a
# variable a client sent (sshd's AcceptEnv) can never be GIT_DIR, GIT_CONFIG_PARAMETERS
# (core.hooksPath=/dev/null would skip the gate), LD_PRELOAD or PYTHONPATH. PG* stay for
# the gate's board login (a server may set PGSSLROOTCERT and the like for it).
_KEPT = frozenset({"HOME", "USER", "LOGNAME", "PATH", "SHELL", "LANG", "TZ", "TMPDIR",
                   "SSH_CLIENT", "SSH_CONNECTION"})  # fmt: skip
_KEPT_PREFIXES = ("LC_", "PG")
# GIT_PROTOCOL is dropped too: the hub speaks protocol v0, where upload-pack serves only
# what a ref reaches. Protocol v2's upload-pack serves any object whose id is asked for
# (git 2.39 ignores uploadpack.allowAnySHA1InWant there), and the hub keeps objects no ref
# reaches any more: a canary's replaced head above all, whose id a family could compute
# from the seeded commit by undoing each catalogued rewrite (ADR 0018).


class Refused(Exception):
    """A request this hub does not serve; the message says what is served instead."""


@dataclass(frozen=True)
class Request:
    """A git service this account serves: ``service`` (receive-pack or upload-pack) on ``hub``."""

    service: str
    hub: Path

    def argv(self) -> list[str]:
        return ["git", self.service, str(self.hub)]


def account_home() -> Path:
    """The serving account's home, where sshd starts the command and relative paths begin."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def requested_path(path: str, home: Path) -> Path:
    """The folder a client named: absolute, or relative to ``home`` (``~/x``, ``/~/x``, ``x``)."""
    if path in ("/~", "~") or path.startswith(("/~/", "~/")):
        path = str(home) + path.lstrip("/")[1:]
    elif path.startswith(("~", "/~")):
        raise Refused(f"{path!r} names another account's home; name the hub's folder")
    named = Path(path)
    return named if named.is_absolute() else home / named


def parse_request(command: str | None, hub: Path, home: Path) -> Request:
    """What ``command`` (SSH_ORIGINAL_COMMAND) asks for, if it is a git transfer of ``hub``
    (already resolved); else Refused, saying what was asked."""
    served = f"this account serves only git push and fetch of the hub {hub}"
    if command is None or not command.strip():
        raise Refused(f"{served}; it has no shell (give git a URL of the hub, not ssh alone)")
    if len(command) > MAX_COMMAND or _CONTROL.search(command):
        raise Refused(f"{served}; the command is too long or holds control characters")
    try:
        words = shlex.split(command)
    except ValueError:
        raise Refused(f"{served}; the command's quoting is broken") from None
    if len(words) == 3 and words[0] == "git":
        words = [f"git-{words[1]}", words[2]]
    shown = words[0][:60] if words else command[:60]
    if not words or words[0] not in SERVICES:
        raise Refused(f"{served}; {shown!r} is not git-receive-pack or git-upload-pack")
    if len(words) != 2 or not words[1]:
        raise Refused(f"{served}; {shown} takes one repository, the hub's folder")
    try:
        named = requested_path(words[1], home)
    except Refused as exc:
        raise Refused(f"{served}; {exc}") from None
    # git's own rule: "project" reaches "project.git" too.
    candidates = (named, named.with_name(named.name + ".git")) if named.name else (named,)
    if not any(os.path.realpath(c) == str(hub) for c in candidates):
        raise Refused(f"{served}; {words[1][:200]!r} is not it")
    return Request(SERVICES[words[0]], hub)


def git_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment git runs in: the allowlist above (so protocol v0)."""
    kept = {k: v for k, v in env.items() if k in _KEPT or k.startswith(_KEPT_PREFIXES)}
    kept.setdefault("PATH", os.defpath)
    return kept


def served_hub(argument: str) -> Path:
    """The hub folder the forced command names, resolved; Refused unless it is a hub."""
    hub = Path(os.path.realpath(argument))
    if not (hub / "HEAD").is_file() or not (hub / "ainarres").is_dir():
        raise Refused(
            f"{argument} is not an ainarres hub (no HEAD or ainarres/ in it); fix the "
            "authorized_keys line: `ainarres hub authorized-keys` makes it"
        )
    return hub


def _say(stderr: TextIO, message: str, code: int) -> int:
    stderr.write(f"{PREFIX} {message}\n")
    stderr.flush()
    return code


def main(argv: Sequence[str], env: Mapping[str, str], stderr: TextIO | None = None) -> int:
    """Serve one connection: exec git on the hub, or return an exit code after one line on
    stderr (2: this command is set up wrong; 1: the client asked for something else)."""
    out = stderr or sys.stderr
    if len(argv) != 1:
        return _say(out, "usage: ainarres hub serve HUB_PATH (the forced command of the "
                         "hub's authorized_keys)", 2)  # fmt: skip
    try:
        hub = served_hub(argv[0])
    except Refused as exc:
        return _say(out, f"not set up: {exc}", 2)
    try:
        request = parse_request(env.get(COMMAND_ENV), hub, account_home())
    except Refused as exc:
        return _say(out, f"refused: {exc}", 1)
    try:
        _exec(request, git_environment(env))
    except OSError as exc:
        return _say(out, f"cannot run git on this server ({exc.strerror}); install git", 3)


def _exec(request: Request, env: dict[str, str]) -> NoReturn:
    # No shell: git gets the hub's path from us, never the client's text.
    os.execvpe("git", request.argv(), env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
