"""A resident gate: one process beside a hub that judges its pushes (`ainarres hub gate`).

The hook git runs (gate/shim.py) starts an interpreter with nothing but the standard
library and hands each push here over a unix socket in the hub's state folder; this
process has imported the gate and the board's driver once, and runs the very same
`run_pre_receive` the hook would run in-process, with the hook's own git variables (the
quarantine, the push certificate, the push options). Between pushes it keeps only open
board connections (read-only, autocommit: board/gate_facts.Pool), so a verdict depends
on the push, the hub and the board alone, as before.

Who may ask: the socket is 0600 in the hub's state folder, and a peer of another uid is
refused (SO_PEERCRED). Asking grants nothing: the verdict is enforced by the hook's exit
status, and the hub's account, the only one that can ask, can write its hooks anyway.
Sandboxed tools cannot make a unix socket at all (ADR 0010). Everything that goes wrong
here refuses the push (an error reply, or no reply: the shim refuses on either); when no
resident gate runs, the shim judges the push in-process.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import socketserver
import struct
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ainarres.board.gate_facts import Pool
from ainarres.errors import BadInput
from ainarres.gate.hook import PREFIX, run_pre_receive
from ainarres.gate.shim import (
    SOCKET_NAME,
    VERSION,
    connect,
    framed,
    read_framed,
    through_folder,
)
from ainarres.git import layout

MAX_REQUEST = 64 << 20  # a push's ref lines and variables; far more than any real push
_UCRED = struct.Struct("3i")  # pid, uid, gid


def socket_path(hub_dir: Path) -> Path:
    return layout.state_dir(hub_dir) / SOCKET_NAME


def why_not_served(hub_dir: Path) -> str | None:
    """Why this user cannot serve the hub's pushes here (None: it can): not a hub, another
    user's, or a live gate already serves it (a socket that answers)."""
    hub_dir = hub_dir.resolve()
    path = socket_path(hub_dir)
    folder = path.parent
    if not (hub_dir / "HEAD").is_file() or not folder.is_dir():
        return f"{hub_dir} is not an ainarres hub (no {folder}); run `ainarres hub init` first"
    if folder.stat().st_uid != os.getuid():
        return f"{folder} belongs to another user; run the gate as the hub's owner"
    if not (path.exists() or path.is_symlink()):
        return None
    live = connect(str(hub_dir))  # the shim's own question: does a gate answer?
    if live is None:
        return None  # stale: its gate is gone
    live.close()
    return f"a resident gate already serves {hub_dir} ({path}); stop it first"


def _send(conn: socket.socket, code: int, said: str) -> None:
    conn.sendall(framed((b"1" if code else b"0") + said.encode("utf-8", "replace")))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False


class ResidentGate:
    """Serve one hub's pushes until `stop()` (or SIGTERM/SIGINT under `serve_forever`)."""

    def __init__(self, hub_dir: Path, log: Callable[[str], None] = lambda _: None) -> None:
        self.hub_dir = hub_dir.resolve()
        self.log = log
        self.path = socket_path(self.hub_dir)
        self.pool = Pool(layout.state_dir(self.hub_dir))  # the board, kept between pushes
        self._server: _Server | None = None
        self._inode: int | None = None

    # -- the socket ----------------------------------------------------------------------

    def bind(self) -> None:
        """Take the hub's socket: refuse if a live gate holds it, replace a stale one."""
        why = why_not_served(self.hub_dir)
        if why is not None:
            raise BadInput(why)
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self.path.exists() or self.path.is_symlink():
                self.path.unlink()  # stale: its gate is gone (why_not_served asked it)
            old = os.umask(0o177)  # the socket is born 0600
            try:
                self._server = _Server(through_folder(fd), _handler(self))
            finally:
                os.umask(old)
        finally:
            os.close(fd)
        self._inode = self.path.stat().st_ino

    def serve_forever(self) -> None:
        """Bind, serve until SIGTERM or SIGINT, then take the socket away."""
        self.bind()
        assert self._server is not None

        def stop(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        self.log(f"gate: serving the pushes of {self.hub_dir} at {self.path}")
        try:
            self._server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.pool.close()
        if self._server is not None:
            self._server.server_close()
            self._server = None
        with contextlib.suppress(OSError):  # remove only our own socket, not a successor's
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()

    # -- a push --------------------------------------------------------------------------

    def judge(self, conn: socket.socket) -> None:
        """One push: read it, judge it as the hook would, answer with code and stderr."""
        started = time.perf_counter()
        _, uid, _ = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  _UCRED.size))  # fmt: skip
        if uid != os.getuid():
            _send(conn, 1, f"{PREFIX} refused the push: asked by uid {uid}, not the hub's\n")
            return
        try:
            fields = read_framed(conn, MAX_REQUEST).split(b"\0")
            if fields[0] != VERSION or len(fields) < 3 or len(fields) % 2 == 0:
                raise ValueError(f"not a request of {VERSION.decode()}")
            where = Path(os.fsdecode(fields[1])).resolve()
            if where != self.hub_dir:
                raise ValueError(f"this gate serves {self.hub_dir}, not {where}")
            # the hook's git variables over this process's own environment (PATH, HOME)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            pairs = fields[3:]
            for name, value in zip(pairs[::2], pairs[1::2], strict=True):
                if name.startswith(b"GIT_"):
                    env[os.fsdecode(name)] = os.fsdecode(value)
            pushed = io.StringIO(fields[2].decode("utf-8", "surrogateescape"))
            said = io.StringIO()
            code = run_pre_receive(pushed, env, self.hub_dir, said, self.pool)
        except Exception as exc:  # the push is refused, never accepted, on any failure
            code, said = 1, io.StringIO(f"{PREFIX} refused the push: internal error ({exc}); "
                                        "tell the hub admin\n")  # fmt: skip
        verdict = "accepted" if code == 0 else "refused"
        self.log(f"gate: push {verdict} in {(time.perf_counter() - started) * 1000:.0f} ms")
        _send(conn, code, said.getvalue())


def _handler(gate: ResidentGate) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):  # a hook that went away has nobody to tell
                gate.judge(self.request)

    return Handler
