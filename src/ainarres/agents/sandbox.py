"""Run an agent's tool under bubblewrap: the system read-only, a private /tmp, the network
allowed, only the task's working folders writable, and the state directory, the hub and
every credential invisible.

The untrusted party is the tool process (a shell driven by a model). It runs as the same
OS user as ainarres, so hiding is done with mounts: an empty tmpfs over the state directory
and over the hub, with only the job's own folders bound back inside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ainarres.errors import BadInput


@dataclass(frozen=True)
class Mounts:
    """What the tool sees: `writable` inside `hidden` are bound back after hiding."""

    writable: tuple[Path, ...]
    hidden: tuple[Path, ...]
    readable: tuple[Path, ...] = ()  # bound back read-only inside a hidden folder


@cache
def unavailable_reason() -> str | None:
    """None when bubblewrap runs here; else why not (missing, or no user namespaces)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--unshare-user", "--cap-drop", "ALL", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"bubblewrap cannot start here: {probe.stderr.strip() or probe.returncode}"
    return None


def _check_mount(path: Path, what: str) -> Path:
    resolved = path.resolve()
    if not resolved.exists():
        raise BadInput(f"sandbox {what} {path} does not exist; nothing was started")
    return resolved


def wrap(argv: Sequence[str], mounts: Mounts, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The bwrap command line that runs `argv` in `cwd` with exactly `env`."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--unshare-user", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--cap-drop", "ALL", "--die-with-parent", "--new-session"]  # fmt: skip
    # Order matters: the private /tmp first, then what must stay readable in it (the
    # interpreter and ainarres itself may live under /tmp), then the hiding, and last the
    # job's own folders, bound back inside the hidden ones.
    for path in runtime_paths():
        args += ["--ro-bind", str(path), str(path)]
    for hidden in mounts.hidden:
        if hidden.exists():
            args += ["--tmpfs", str(hidden.resolve())]
    for path in mounts.readable:
        p = _check_mount(path, "folder")
        args += ["--ro-bind", str(p), str(p)]
    for path in mounts.writable:
        p = _check_mount(path, "folder")
        args += ["--bind", str(p), str(p)]
    args += ["--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(_check_mount(cwd, "working folder")), "--", *argv]
    return args


def runtime_paths() -> tuple[Path, ...]:
    """The Python that runs ainarres and ainarres's own code: a tool started as
    `python -m ...` (the script adapter) needs them even when they live under /tmp."""
    package = Path(__file__).resolve().parents[1]  # .../ainarres
    found = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), package.parent}
    return tuple(sorted(p for p in found if p.exists()))


def tool_env(passthrough: Sequence[str], extra: Mapping[str, str]) -> dict[str, str]:
    """The tool's environment: a plain PATH/HOME/LANG, the family's model-API variables,
    and the job's own; nothing else of ainarres's environment (no database URL)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TERM") if k in os.environ}
    env["HOME"] = "/tmp"
    env.update({k: os.environ[k] for k in passthrough if k in os.environ})
    env.update(extra)
    return env
