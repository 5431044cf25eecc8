"""The `ainarres` CLI for the tests, started by fork from an interpreter that has imported it.

Each `python -m ainarres ...` a test runs costs ~0.25 s of CPU before the command does
anything: the interpreter, click, psycopg, pydantic and ainarres's own modules. The suite
runs several hundred of them, on 2 cores. So each test worker starts this file once
(`python forkserver.py SOCKET`): it imports the CLI and the board's modules, and for each
command forks a new process that becomes that command, with the test's argv, environment,
working directory and stdin/stdout/stderr (passed as file descriptors), and exits with its
code, as `python -m ainarres` would.

What a fresh interpreter would do differently, and how it is kept out:
- State a module computes at import from the environment or the home folder would be the
  server's: ainarres reads its settings when a command runs, not at import (none of the
  preloaded modules reads `os.environ` at module level), and the server never runs one.
- libgit2 reads where the global git config lives (HOME) when pygit2 is imported, so
  pygit2 is not preloaded: a command that needs it imports it in its own process, after
  its environment is set. The server refuses to start if a preload pulled pygit2 in.
- Signal dispositions are reset to the defaults a fresh interpreter starts from.
What is tested only by a fresh start (`python -m ainarres` itself, its imports, the hook's
shim) keeps its own tests, which start real interpreters; `TESTS_FRESH_INTERPRETER=1` makes
every command here a fresh interpreter again, to compare.

Protocol: the client connects, sends the length of its request (8 bytes, big-endian) with
three file descriptors (stdin, stdout, stderr) in one message, then the request, a JSON
object (argv, env, cwd); the server forks a handler that forks the command, sends back its
pid ("pid N\\n"), waits for it and sends its status ("exit N\\n", negative for a signal, as
subprocess reports it). The server leaves when its test worker does, even a SIGKILLed one:
it watches a pipe whose other end only the worker holds.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

PRELOAD = (
    "ainarres.__main__",
    "ainarres.cli.main",
    "ainarres.cli.context",
    "ainarres.cli.render",
    "ainarres.cli.agents",
    "ainarres.cli.board_cmd",
    "ainarres.cli.family",
    "ainarres.cli.govern",
    "ainarres.cli.hub",
    "ainarres.cli.integrate",
    "ainarres.cli.join",
    "ainarres.cli.setup",
    "ainarres.cli.tasks",
    "ainarres.cli.work",
    "ainarres.cli.workflow",
    "ainarres.cli.worktree",
    "ainarres.board.admin",
    "ainarres.board.db",
    "ainarres.board.reads",
    "ainarres.board.verbs",
    "ainarres.bundle",
    "ainarres.models",
)
FRESH_ENV = "TESTS_FRESH_INTERPRETER"


# --- the server ---------------------------------------------------------------------------


def _become_the_command(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: take the test's stdio, cwd, environment and argv, run the CLI
    as `python -m ainarres` does, exit with its code. Never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        main = sys.modules["ainarres.__main__"]
        sys.argv = [str(main.__file__), *request["argv"]]
        sys.path[0] = request["cwd"]  # where `python -m` puts the working directory
        try:
            result = main.main()
            code = result if isinstance(result, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # what the interpreter prints for an uncaught exception
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code & 0xFF)


def _handle(conn: socket.socket) -> None:
    """In a handler process: fork the command, report its pid, wait, report its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # to wait for our own child
    head, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
    size, body = int.from_bytes(head, "big"), b""
    while len(body) < size:  # a stream: the request may come in several reads
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("the test closed the connection mid-request")
        body += chunk
    request = json.loads(body)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_the_command(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    conn.sendall(f"exit {code}\n".encode())


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    if "pygit2" in sys.modules:
        raise SystemExit("forkserver: a preloaded module imports pygit2; drop it from PRELOAD")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    waiting = selectors.DefaultSelector()
    waiting.register(listener, selectors.EVENT_READ)
    waiting.register(sys.stdin, selectors.EVENT_READ)  # the test worker holds the other end
    print("ready", flush=True)
    while True:
        ready = [key.fileobj for key, _ in waiting.select()]
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1 << 10):
            # The test worker is gone (even SIGKILLed): so goes its server, and its socket.
            with contextlib.suppress(OSError):
                os.unlink(path)
                os.rmdir(os.path.dirname(path))
            return
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        assert threading.active_count() == 1, "fork with one thread only"
        if os.fork() == 0:
            listener.close()
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


# --- the client (in the test process) ----------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="ainarres-fork-")  # short: a socket path
        self.path = os.path.join(self.folder, "s")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AINARRES_", "PG"))}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/",
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError(f"the test fork server did not start ({self.proc.wait()})")
        atexit.register(self.stop)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        Path(self.path).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self.folder)


_server: _Server | None = None


def _decode(data: bytes) -> str:
    """As subprocess decodes a text-mode child's output (locale encoding, universal
    newlines)."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def run(
    args: list[str], env: dict[str, str], stdin: str | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`python -m ainarres *args` with `env`, output captured as text: a forked process."""
    argv = [sys.executable, "-m", "ainarres", *args]
    if os.environ.get(FRESH_ENV) == "1":
        return subprocess.run(argv, capture_output=True, text=True, env=env, input=stdin,
                              timeout=timeout)  # fmt: skip
    global _server
    if _server is None or _server.proc.poll() is not None:
        _server = _Server()
    with (
        tempfile.TemporaryFile() as inp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
    ):
        if stdin is not None:
            inp.write(stdin.encode(locale.getpreferredencoding(False)))
            inp.seek(0)
            source = inp.fileno()
        else:
            source = os.open(os.devnull, os.O_RDONLY)
        try:
            conn.connect(_server.path)
            request = json.dumps({"argv": args, "env": env, "cwd": os.getcwd()}).encode()
            head = len(request).to_bytes(8, "big")
            socket.send_fds(conn, [head], [source, out.fileno(), err.fileno()])
            conn.sendall(request)
        finally:
            if stdin is None:
                os.close(source)
        conn.settimeout(timeout)
        reader = conn.makefile("rb")
        pid = int(reader.readline().split()[1])
        try:
            line = reader.readline()
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(argv, timeout) from None
        if not line.startswith(b"exit "):
            raise RuntimeError(f"the test fork server lost the command {args}: {line!r}")
        code = int(line.split()[1])
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, _decode(out.read()), _decode(err.read()))


if __name__ == "__main__":
    serve(sys.argv[1])
