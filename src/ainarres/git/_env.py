"""Environment hygiene for git subprocesses."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

# Variables that point git at a particular repository, index or object store. They
# are set while a hook runs; inherited by a command aimed at another repository they
# would silently redirect it, so commands that name their repository drop them.
_REPO_LOCAL = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


# How this process's git reaches an ssh hub (GIT_SSH_COMMAND), set once its family is known.
_transport: dict[str, str] = {}


def use_ssh_identity(key: Path, known_hosts: Path | None, unlock: Mapping[str, str] = {}) -> None:
    """Reach ssh hubs with ``key`` and only that key (an ssh-agent may hold its private
    half; no other key of the agent's or of ~/.ssh is offered), and,
    with ``known_hosts``, accept only the host keys it lists. No password or keyboard
    prompt is ever tried; a protected key is opened by an ssh-agent, or by ``unlock`` (the
    askpass environment of `git/push.py`)."""
    command = [
        "ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no", "-o", "ConnectTimeout=15",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=2",
    ]  # fmt: skip
    if known_hosts is not None:
        command += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    _transport.clear()
    _transport.update(unlock)
    _transport["GIT_SSH_COMMAND"] = shlex.join(command)


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Return ``base`` (default os.environ) minus repository-pinning variables, plus ``extra``.

    Only ainarres's own git (no ``base``) gets the hub transport (the family's key, the
    integrator's askpass secret): an environment built for someone else's code, such as
    the integration checks', never does."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _REPO_LOCAL}
    env.pop("GIT_SSH", None)
    if base is None:
        env.update(_transport)
    env.update(extra)
    return env
