"""Run an untrusted process (an agent's tool, or a project's checks) under bubblewrap.

An allowlist, not a blocklist: the sandbox starts from an empty root and shows only

- the system, read-only: /usr, /bin, /sbin, /lib* and a minimal /etc (`ETC_ENTRIES`);
- the Python that runs ainarres and ainarres's own code, read-only (the script adapter
  runs `python -m ...`);
- what the caller lists: folders to write (the job folder, the worktree), folders to read
  (the worktree's git data, the tool's own install), single files pinned read-only (the
  worktree's `.git` pointer), and for a tool its family's own tool home, bound writable as
  HOME at `TOOL_HOME` (logins, caches; `agents/toolhome.py`);
- a private /tmp (HOME when no tool home is bound), /dev and /proc of its own.

Nothing else of this machine exists inside: no $HOME, no /home but the family's own tool
home, no /root, /run, /var, no other project, no credential. Unix sockets are refused by a
seccomp filter (`socket(AF_UNIX)` fails with EPERM; a connected `socketpair`, stream or
seqpacket, still works), so neither
an ssh-agent, a PostgreSQL socket nor an abstract socket on the shared network namespace
can be reached; io_uring, which could open sockets around that filter, is refused too. The
network is on for tools (they call model APIs) and off for checks unless the project asks
for it.

The process runs as the same OS user as ainarres; the boundary is what it can see.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ainarres.errors import BadInput

#: the system, bound read-only where it exists (a symlink, as /bin -> usr/bin, stays one)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: the part of /etc a program needs to run, resolve names and check TLS certificates
ETC_ENTRIES = (
    "passwd", "group", "nsswitch.conf", "hosts", "host.conf", "gai.conf", "resolv.conf",
    "services", "protocols", "networks", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "ssl", "ca-certificates", "ca-certificates.conf", "pki", "alternatives", "localtime",
    "timezone", "os-release", "mime.types", "terminfo", "inputrc", "gitconfig", "python3",
    f"python3.{sys.version_info.minor}",
)  # fmt: skip
# Not shown: /etc/npmrc and /etc/pip.conf (they may hold registry tokens); a person lists
# such a file in the family's read_only_paths when its tool needs it.
SANDBOX_HOME = "/tmp"
#: where a family's tool home shows, as HOME: not under /tmp (some tools refuse to keep
#: their helpers under a temporary folder), and the same path for every family
TOOL_HOME = "/home/ainarres"


@dataclass(frozen=True)
class Mounts:
    """What the process sees beyond the system: see the module docstring.

    `hidden` folders are covered by an empty tmpfs where they would otherwise show through
    a bound folder (a state directory kept inside a project under /usr, say); `home_dir` is
    bound writable at `TOOL_HOME` (a family's tool home; the caller sets HOME to it).
    """

    writable: tuple[Path, ...]
    hidden: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    pinned: tuple[Path, ...] = ()  # single files bound read-only over a writable folder
    home_dir: Path | None = None
    network: bool = True


@cache
def unavailable_reason() -> str | None:
    """None when bubblewrap runs here; else why not (missing, or no user namespaces)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    if _arch() is None:
        return f"no seccomp filter for this machine ({platform.machine()})"
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


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def wrap(argv: Sequence[str], mounts: Mounts, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The command line that runs `argv` in `cwd` with exactly `env`, in the sandbox."""
    args = ["bwrap", "--tmpfs", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--cap-drop", "ALL", "--die-with-parent",
            "--new-session"]  # fmt: skip
    if not mounts.network:
        args.append("--unshare-net")
    shown: list[Path] = []
    for name in SYSTEM_PATHS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
            shown.append(path)
    for name in ETC_ENTRIES:
        path = Path("/etc") / name
        if path.exists():  # follows a symlink (resolv.conf -> /run/...): the target is bound
            args += ["--ro-bind", str(path.resolve()), str(path)]
    for path in (*runtime_paths(), *(_check_mount(p, "folder") for p in mounts.readable)):
        args += ["--ro-bind", str(path), str(path)]
        shown.append(path)
    writable = [_check_mount(p, "folder") for p in mounts.writable]
    for hidden in mounts.hidden:
        real = hidden.resolve()
        if real.exists() and _inside(real, shown):
            args += ["--tmpfs", str(real)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    for path in mounts.pinned:
        p = _check_mount(path, "file")
        if not _inside(p, writable):
            raise BadInput(f"sandbox: pinned file {path} is not inside a writable folder")
        args += ["--ro-bind", str(p), str(p)]
    if mounts.home_dir is not None:
        args += ["--bind", str(_check_mount(mounts.home_dir, "home")), TOOL_HOME]
    args += ["--remount-ro", "/", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(_check_mount(cwd, "working folder")), "--", *argv]
    # bwrap reads the seccomp program from a file descriptor: the shell opens it, then
    # becomes bwrap, so the command line stays a plain list anyone can run.
    return ["/bin/sh", "-c", 'exec "$@" 9<"$0"', str(seccomp_file()), args[0],
            "--seccomp", "9", *args[1:]]  # fmt: skip


def runtime_paths() -> tuple[Path, ...]:
    """The Python that runs ainarres and ainarres's own code: a tool started as
    `python -m ...` (the script adapter) needs them, wherever they are installed."""
    package = Path(__file__).resolve().parents[1]  # .../ainarres
    found = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), package.parent}
    system = [Path(p) for p in SYSTEM_PATHS]
    return tuple(sorted(p for p in found if p.exists() and not _inside(p, system)))


def visible(path: Path, mounts: Mounts) -> bool:
    """Whether `path` (a file of this machine) shows inside a sandbox made with `mounts`."""
    real = path.resolve()
    roots = [Path(p).resolve() for p in SYSTEM_PATHS if Path(p).exists()]
    roots += [*runtime_paths(), *(p.resolve() for p in (*mounts.readable, *mounts.writable))]
    return _inside(real, roots) and not _inside(real, [h.resolve() for h in mounts.hidden])


def tool_env(
    passthrough: Sequence[str], extra: Mapping[str, str], home: str = SANDBOX_HOME
) -> dict[str, str]:
    """The tool's environment: a plain PATH/HOME/LANG, the family's model-API variables,
    and the job's own; nothing else of ainarres's environment (no database URL). `home`
    is TOOL_HOME when the family's tool home is bound."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TERM") if k in os.environ}
    env["HOME"] = home
    env.update({k: os.environ[k] for k in passthrough if k in os.environ})
    env.update(extra)
    return env


# -- the seccomp filter --------------------------------------------------------------------
# A classic BPF program over struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6]}.

_LD_W_ABS, _JEQ, _JGE, _RET, _ALU_AND = 0x20, 0x15, 0x35, 0x06, 0x54
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_EPERM, _ENOSYS, _AF_UNIX = 1, 38, 1
# (audit arch, socket syscall, io_uring_setup/enter/register, x32 bit or 0)
_SOCK_STREAM, _SOCK_SEQPACKET, _SOCK_TYPE_MASK = 1, 5, 0xF
# (audit arch, socket, socketpair, io_uring_setup/enter/register, x32 bit or 0)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 53, (425, 426, 427), 0x40000000),
    "aarch64": (0xC00000B7, 198, 199, (425, 426, 427), 0),
}


def _arch() -> tuple[int, int, int, tuple[int, ...], int] | None:
    return _ARCHES.get(platform.machine())


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_program() -> bytes:
    """The filter: a foreign syscall ABI, io_uring, socket(AF_UNIX, ...) and a socketpair
    that is not a stream or seqpacket pair fail; all else is allowed."""
    arch = _arch()
    if arch is None:
        raise BadInput(f"no seccomp filter for this machine ({platform.machine()})")
    audit, socket_nr, socketpair_nr, uring, x32 = arch
    deny, nosys = _insn(_RET, _ERRNO | _EPERM), _insn(_RET, _ERRNO | _ENOSYS)
    prog = [_insn(_LD_W_ABS, 4), _insn(_JEQ, audit, 1, 0), deny, _insn(_LD_W_ABS, 0)]
    if x32:
        prog += [_insn(_JGE, x32, 0, 1), deny]
    for nr in uring:
        prog += [_insn(_JEQ, nr, 0, 1), nosys]
    # socket: args[0] (the domain) is the low word of the u64 at offset 16 (little endian)
    # socketpair: only a connected kind, stream or seqpacket, whose connect() fails
    # (EISCONN) and whose sendto() address is ignored; a datagram pair can connect() or
    # sendto() any abstract address. (Codex talks to its MCP servers over a seqpacket pair.)
    prog += [
        _insn(_JEQ, socketpair_nr, 0, 5),
        _insn(_LD_W_ABS, 24),
        _insn(_ALU_AND, _SOCK_TYPE_MASK),
        _insn(_JEQ, _SOCK_STREAM, 2, 0),
        _insn(_JEQ, _SOCK_SEQPACKET, 1, 0),
        deny,
    ]
    prog += [_insn(_LD_W_ABS, 0)]  # the syscall number again, for the socket check
    prog += [_insn(_JEQ, socket_nr, 0, 3), _insn(_LD_W_ABS, 16), _insn(_JEQ, _AF_UNIX, 0, 1),
             deny, _insn(_RET, _ALLOW)]  # fmt: skip
    return b"".join(prog)


def seccomp_file() -> Path:
    """The compiled filter in a private folder of this user (made once, content-named)."""
    program = seccomp_program()
    folder = Path(tempfile.gettempdir()) / f"ainarres-sandbox-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise BadInput(f"{folder} is not a private folder of this user; remove it")
    path = folder / f"seccomp-{hashlib.sha256(program).hexdigest()[:16]}.bpf"
    if not path.exists() or path.read_bytes() != program:
        tmp = folder / f".seccomp.{os.getpid()}"
        tmp.write_bytes(program)
        tmp.replace(path)
    return path
