"""Push to the hub (optionally with an ssh-signed push certificate) and clone it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput
from ainarres.git._env import clean_env
from ainarres.git._run import git, unreachable
from ainarres.git.keys import SigningKey

# Flags of `git push --porcelain`: ' ' fast-forward, '+' forced, '-' deleted,
# '*' new ref, '=' up to date, '!' rejected.
_ACCEPTED_FLAGS = frozenset(" +-*=")


@dataclass(frozen=True)
class RefResult:
    """What happened to one pushed ref."""

    flag: str
    source: str
    destination: str
    summary: str

    @property
    def accepted(self) -> bool:
        """True when the hub took (or already had) this ref update."""
        return self.flag in _ACCEPTED_FLAGS


@dataclass(frozen=True)
class PushResult:
    """The outcome of one ``git push``."""

    returncode: int
    refs: tuple[RefResult, ...]
    remote_lines: tuple[str, ...]
    stderr: str

    stdout: str = ""

    @property
    def why(self) -> str:
        """What the hub or git said against the push, in one line."""
        if self.remote_lines:
            return "; ".join(self.remote_lines)
        said = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " / ".join(said) or f"git push exited {self.returncode}"

    @property
    def ok(self) -> bool:
        """True when git succeeded and every ref was accepted."""
        return self.returncode == 0 and bool(self.refs) and all(r.accepted for r in self.refs)

    def ref(self, destination: str) -> RefResult | None:
        """The result for ``destination`` (a full ref name), or None if git did not report it."""
        return next((r for r in self.refs if r.destination == destination), None)


def _parse_porcelain(stdout: str) -> tuple[RefResult, ...]:
    refs: list[RefResult] = []
    for line in stdout.splitlines():
        # Ref lines are "<flag>\t<from>:<to>\t<summary>"; "To <url>" and "Done" are not.
        parts = line.split("\t")
        if len(parts) != 3 or len(parts[0]) != 1 or ":" not in parts[1]:
            continue
        source, _, destination = parts[1].partition(":")
        refs.append(RefResult(parts[0], source, destination, parts[2]))
    return tuple(refs)


def _remote_lines(stderr: str) -> tuple[str, ...]:
    # git pads sideband lines with spaces (or an ANSI erase on a terminal); strip both.
    lines = []
    for raw in stderr.replace("\r", "\n").splitlines():
        if raw.startswith("remote: "):
            lines.append(raw[len("remote: ") :].replace("\x1b[K", "").rstrip())
    return tuple(lines)


def push(
    clone: Path,
    remote: str,
    refspecs: list[str],
    *,
    key: SigningKey | None,
    signed: bool,
    options: Sequence[str] = (),
    passphrase: str | None = None,
    use_agent: bool = False,
) -> PushResult:
    """Run ``git push --porcelain [--signed] <remote> <refspecs>`` in ``clone``.

    With ``key`` the push certificate is signed by that ssh key (gpg.format=ssh).
    Refusals are not errors here: inspect ``PushResult.ok`` and ``remote_lines``.
    """
    if signed and key is None:
        raise BadInput("a signed push needs a signing key; pass key=")
    if not refspecs:
        raise BadInput("nothing to push; give at least one refspec")
    config: list[str] = []
    extra: dict[str, str] = {}
    if key is not None:
        # With an ssh-agent, git gives ssh-keygen the public key and the agent signs.
        signer = key.public_key_path if use_agent else key.private_key.resolve()
        config = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={signer}"]
    if passphrase is not None and not use_agent:
        extra = askpass_env(passphrase)
    # Push options (-o) travel inside the signed certificate, so the gate can trust them.
    opts = [arg for option in options for arg in ("-o", option)]
    args = [
        *config,
        "push",
        "--porcelain",
        *(["--signed"] if signed else []),
        *opts,
        remote,
        *refspecs,
    ]
    done = git(*args, cwd=clone, env=clean_env(None, **extra), check=False)
    if done.returncode != 0 and not _parse_porcelain(done.stdout):
        unreachable(done.stderr)  # no ref was even judged: the hub was not reached
    return PushResult(
        returncode=done.returncode,
        refs=_parse_porcelain(done.stdout),
        remote_lines=_remote_lines(done.stderr),
        stderr=done.stderr,
        stdout=done.stdout,
    )


def clone_hub(hub: Path, dest: Path) -> Path:
    """Clone the hub at ``hub`` into ``dest`` (remote name ``origin``); return ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise BadInput(f"{dest} exists and is not empty; choose a new folder for the clone")
    git("clone", "--quiet", str(hub), str(dest), env=clean_env())
    return dest


_ASKPASS = "#!/bin/sh\nprintf '%s\\n' \"$AINARRES_ASKPASS_SECRET\"\n"


def askpass_env(passphrase: str) -> dict[str, str]:
    """Environment that makes ssh-keygen take the key's passphrase from us, not a terminal.

    The passphrase travels in the environment of git's own children only; the askpass
    helper is a fixed script in a private folder, holding no secret itself.
    """
    folder = Path(tempfile.gettempdir()) / f"ainarres-askpass-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    script = folder / "askpass"
    if not script.exists() or script.read_text() != _ASKPASS:
        tmp = folder / f".askpass.{os.getpid()}"
        tmp.write_text(_ASKPASS)
        tmp.chmod(0o700)
        tmp.replace(script)
    return {
        "SSH_ASKPASS": str(script),
        "SSH_ASKPASS_REQUIRE": "force",
        "AINARRES_ASKPASS_SECRET": passphrase,
        "DISPLAY": os.environ.get("DISPLAY", ":0"),
    }
