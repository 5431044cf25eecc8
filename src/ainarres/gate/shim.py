"""The hub's pre-receive hook as git runs it: `python -I -S shim.py`.

A push should cost little more than a plain push, and most of a gated push used to be a
Python interpreter importing psycopg. So the hook is this file, which imports nothing the
interpreter has not loaded at start but `_socket` (`-S`: not even site-packages; `socket`
and `json` would cost more than the rest of it): it hands the push to the hub's resident
gate (`ainarres hub gate`, gate/resident.py) over the unix socket in the hub's state
folder, and prints its verdict. When no resident gate answers the socket, it becomes the
whole gate in this process (`python -I -m ainarres hook pre-receive`, site-packages and
all), exactly as before: slower, never weaker.

Fails closed: a resident gate that takes the push and does not answer refuses it (the
push's input is spent by then, so it cannot be judged again here; pushing again can).

The messages, each a 4-byte big-endian length and then the bytes:
- request: NUL-separated fields, `VERSION`, the hub's real path, the ref lines git gave
  the hook, then name and value of each `GIT_*` variable (neither can hold a NUL);
- reply: one digit, 0 (accept) or 1 (refuse), then what to print on stderr (UTF-8).
"""

from __future__ import annotations

import _socket
import os
import sys

STATE_DIR = "ainarres"  # git/layout.STATE_DIR
SOCKET_NAME = "gate.sock"
VERSION = b"ainarres-gate/1"
PREFIX = "ainarres gate:"
MAX_REPLY = 16 << 20


def through_folder(folder_fd: int) -> str:
    """The socket's address through its open folder: a unix socket's path has ~108 bytes,
    and this one is short whatever the hub's path."""
    return f"/proc/self/fd/{folder_fd}/{SOCKET_NAME}"


def connect(hub: str) -> _socket.socket | None:
    """The resident gate's socket, connected, or None when nobody serves it."""
    folder = os.path.join(hub, STATE_DIR)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        if len(os.path.join(folder, SOCKET_NAME)) < 100:
            conn.connect(os.path.join(folder, SOCKET_NAME))
        else:  # too long for a socket's address: reach it through its folder
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                conn.connect(through_folder(fd))
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


def framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def read_exactly(conn: _socket.socket, size: int) -> bytes:
    """`size` bytes from `conn` (the gate's side reads its requests with this too)."""
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_framed(conn: _socket.socket, limit: int) -> bytes:
    size = int.from_bytes(read_exactly(conn, 4), "big")
    if size > limit:
        raise ValueError(f"a message of {size} bytes (at most {limit})")
    return read_exactly(conn, size)


def main() -> int:
    hub = os.environ.get("GIT_DIR", ".")
    conn = connect(hub)
    if conn is None:
        return _in_process()
    try:
        fields = [VERSION, os.fsencode(os.path.realpath(hub)), sys.stdin.buffer.read()]
        for name, value in os.environb.items():
            if name.startswith(b"GIT_"):
                fields += [name, value]
        conn.sendall(framed(b"\0".join(fields)))
        reply = read_framed(conn, MAX_REPLY)
        if reply[:1] not in (b"0", b"1"):
            raise ValueError("a reply without a verdict")
    except (OSError, ValueError) as exc:
        print(f"{PREFIX} refused the push: the resident gate did not answer ({exc}); push "
              "again, and tell the hub admin if it keeps failing", file=sys.stderr)  # fmt: skip
        return 1
    finally:
        conn.close()
    sys.stderr.write(reply[1:].decode("utf-8", "replace"))
    sys.stderr.flush()
    return 0 if reply[:1] == b"0" else 1


if __name__ == "__main__":
    sys.exit(main())
