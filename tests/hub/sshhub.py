"""A real OpenSSH server for the hub tests: sshd on 127.0.0.1 at a free port, with a host
key and an authorized_keys file of its own, logging in as the account running the tests.

Named apart from conftest (a second `conftest` is ambiguous); each test module makes its
fixture from `running_sshd`. Nothing is mocked: the hub account's authorized_keys is what
`ainarres hub authorized-keys` prints, and git reaches the hub with `ssh` as ainarres runs it.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
ROOT = os.geteuid() == 0


def require_sshd() -> None:
    """Skip, saying why, where no OpenSSH server is installed (.ci/run installs one)."""
    if not SSHD.is_file():
        pytest.skip(f"{SSHD} is missing: install openssh-server (apt-get install openssh-server)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(path: Path, comment: str = "test") -> Path:
    """A fresh unprotected ed25519 key at ``path`` (and ``path.pub``)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    return path


def public_key(path: Path) -> str:
    """``TYPE BASE64`` of the key at ``path`` (its .pub beside it)."""
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


@dataclass
class SshServer:
    """A running sshd: where it listens, its host key, the file it reads keys from."""

    folder: Path
    port: int
    user: str
    host_key: str
    authorized_keys: Path
    log: Path
    # A second address of the loopback network on port 22, for git's scp-like form
    # (host:path has no port); only root may listen there.
    port22_host: str | None

    def url(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def scp(self, path: Path | str) -> str:
        assert self.port22_host is not None
        return f"{self.user}@{self.port22_host}:{path}"

    def known_hosts(self) -> str:
        """known_hosts lines that name this server's host key at both its addresses."""
        lines = [f"[127.0.0.1]:{self.port} {self.host_key}"]
        if self.port22_host is not None:
            lines.append(f"{self.port22_host} {self.host_key}")
        return "\n".join(lines) + "\n"

    def authorize(self, text: str) -> None:
        self.authorized_keys.write_text(text)
        self.authorized_keys.chmod(0o600)

    def ssh_command(self, key: Path, known_hosts: Path, *extra: str) -> list[str]:
        """ssh as ainarres runs it (git/_env.py use_ssh_identity), plus ``extra`` options."""
        return ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=15", "-F", "/dev/null", *extra]  # fmt: skip

    def ssh(
        self,
        key: Path,
        known_hosts: Path,
        *remote: str,
        options: Sequence[str] = (),
        stdin: str = "",
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ssh ... user@127.0.0.1 REMOTE...`` and return what happened."""
        args = [*self.ssh_command(key, known_hosts, *options), "-p", str(self.port),
                f"{self.user}@127.0.0.1", *remote]  # fmt: skip
        return subprocess.run(args, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _config(folder: Path, port: int, port22: str | None, user: str) -> str:
    lines = [
        f"ListenAddress 127.0.0.1:{port}",
        *([f"ListenAddress {port22}:22"] if port22 else []),
        f"HostKey {folder / 'host_ed25519'}",
        "PidFile none",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "AuthorizedPrincipalsFile none",
        # StrictModes checks every folder up to / (the file is not under the account's
        # home): root's private folder under /run passes; /tmp (world-writable) would not.
        f"StrictModes {'yes' if ROOT else 'no'}",
        # Root may log in only with a key whose line forces a command: exactly what
        # `hub authorized-keys` writes, so a line without one fails here.
        "PermitRootLogin forced-commands-only",
        f"AllowUsers {user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # Everything a careless server allows: the authorized_keys lines must refuse it.
        "AllowTcpForwarding yes",
        "AllowStreamLocalForwarding yes",
        "AllowAgentForwarding yes",
        "PermitTTY yes",
        "PermitUserRC yes",
        "X11Forwarding no",
        "AcceptEnv LANG LC_* GIT_*",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
    ]
    return "\n".join(lines) + "\n"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


@contextmanager
def running_sshd(tmp_path: Path) -> Iterator[SshServer]:
    """Start sshd for one test and stop it (by its own pid) when the test ends."""
    require_sshd()
    user = pwd.getpwuid(os.geteuid()).pw_name
    # Root: a private folder under /run (root-owned all the way up, as StrictModes wants),
    # and the privilege separation folder sshd needs.
    if ROOT:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="ainarres-sshd-", dir="/run"))
    else:
        folder = tmp_path / "sshd"
        folder.mkdir()
    folder.chmod(0o700)
    proc: subprocess.Popen[bytes] | None = None
    try:
        make_key(folder / "host_ed25519", "host")
        host_key = public_key(folder / "host_ed25519")
        port = free_port()
        port22 = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        port22_host = port22 if ROOT else None
        config = folder / "sshd_config"
        config.write_text(_config(folder, port, port22_host, user))
        (folder / "authorized_keys").write_text("")
        (folder / "authorized_keys").chmod(0o600)
        checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True,
                                 text=True, check=False)  # fmt: skip
        assert checked.returncode == 0, f"sshd -t: {checked.stderr}"
        log = tmp_path / "sshd.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 15
        while not _listening("127.0.0.1", port):
            assert proc.poll() is None, f"sshd exited: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, "sshd did not listen within 15 s"
            time.sleep(0.05)
        if port22_host is not None and not _listening(port22_host, 22):
            port22_host = None  # port 22 taken there: the scp form's tests say so and skip
        yield SshServer(folder, port, user, host_key, folder / "authorized_keys", log,
                        port22_host)  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if ROOT:
            shutil.rmtree(folder, ignore_errors=True)
