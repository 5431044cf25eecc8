"""The hub's pre-receive hook as git runs it: `python -I -S shim.py`.

A push should cost little more than a plain push, and most of a gated push used to be a
Python interpreter importing psycopg. So the hook is this file, which imports only the
standard library (`-S`: not even site-packages): it hands the push to the hub's resident
gate (`ainarres hub gate`, gate/resident.py) over the unix socket in the hub's state
folder, and prints its verdict. When no resident gate answers the socket, it becomes the
whole gate in this process (`python -I -m ainarres hook pre-receive`, site-packages and
all), exactly as before: slower, never weaker.

Fails closed: a resident gate that takes the push and does not answer refuses it (the
push's input is spent by then, so it cannot be judged again here; pushing again can).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

STATE_DIR = "ainarres"  # git/layout.STATE_DIR
SOCKET_NAME = "gate.sock"  # gate/resident.SOCKET_NAME
PREFIX = "ainarres gate:"
LENGTH = struct.Struct(">I")  # each message: its length, then its JSON
_MAX_REPLY = 16 << 20


def _connect(hub: str) -> socket.socket | None:
    """The resident gate's socket, or None when nobody serves it."""
    folder = os.path.join(hub, STATE_DIR)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.path.join(folder, SOCKET_NAME)) < 100:
            conn.connect(os.path.join(folder, SOCKET_NAME))
        else:  # a unix socket's path has ~108 bytes: reach a long one through its folder
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                conn.connect(f"/proc/self/fd/{fd}/{SOCKET_NAME}")
            finally:
                os.close(fd)
    except OSError:
        conn.close()
        return None
    return conn


def _in_process() -> int:
    """Become the whole gate: the same interpreter, with site-packages this time."""
    argv = [sys.executable, "-I", "-m", "ainarres", "hook", "pre-receive", *sys.argv[1:]]
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:
        print(f"{PREFIX} refused the push: cannot start the gate ({exc}); tell the hub admin",
              file=sys.stderr)  # fmt: skip
    return 1


def read_exactly(conn: socket.socket, size: int) -> bytes:
    """`size` bytes from `conn` (the gate's side reads its requests with this too)."""
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def main() -> int:
    hub = os.environ.get("GIT_DIR", ".")
    conn = _connect(hub)
    if conn is None:
        return _in_process()
    with conn:
        try:
            pushed = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
            env = {k: v for k, v in os.environ.items() if k.startswith("GIT_")}
            request = json.dumps({"dir": os.path.realpath(hub), "stdin": pushed, "env": env})
            body = request.encode("utf-8", "surrogateescape")
            conn.sendall(LENGTH.pack(len(body)) + body)
            (size,) = LENGTH.unpack(read_exactly(conn, LENGTH.size))
            if size > _MAX_REPLY:
                raise ValueError(f"a reply of {size} bytes")
            reply = json.loads(read_exactly(conn, size))
            code, said = int(reply["code"]), str(reply["stderr"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"{PREFIX} refused the push: the resident gate did not answer ({exc}); push "
                  "again, and tell the hub admin if it keeps failing", file=sys.stderr)  # fmt: skip
            return 1
    sys.stderr.write(said)
    sys.stderr.flush()
    return 1 if code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
