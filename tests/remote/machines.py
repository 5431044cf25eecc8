"""Machines on a network, all on this one: Linux network namespaces joined by veth pairs
to a bridge in the server's namespace (addresses exist inside the namespaces only;
nothing leaves the machine), and for each machine a folder that only it can see.

A command "on a machine" runs in that machine's network namespace and in a mount
namespace (bubblewrap) where the test's whole tree is replaced by an empty one except that
machine's own folder: another machine's files (a bundle, the hub, a key) do not exist there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"


def unavailable_reason() -> str | None:
    """Why machines cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "bwrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 bubblewrap)"
    probe = f"ain-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Machine:
    name: str
    netns: str
    address: str
    home: Path  # the only folder of the test's tree this machine sees
    link: str  # its cable's end on the server side


@dataclass
class Network:
    """A server and the machines cabled to it; `close()` removes every namespace."""

    root: Path  # the test's tree: hidden from every machine but for its own folder
    tag: str = field(default_factory=lambda: os.urandom(3).hex())
    machines: dict[str, Machine] = field(default_factory=dict)

    def add(self, name: str) -> Machine:
        """A machine; the first one added is the server (it holds the bridge)."""
        netns = f"ain{self.tag}-{name}"
        index = len(self.machines) + 1
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        _ip("netns", "add", netns)
        _ip("-n", netns, "link", "set", "lo", "up")
        if not self.machines:
            _ip("-n", netns, "link", "add", "br0", "type", "bridge")
            _ip("-n", netns, "addr", "add", f"{SUBNET}.{index}/24", "dev", "br0")
            _ip("-n", netns, "link", "set", "br0", "up")
            machine = Machine(name, netns, f"{SUBNET}.{index}", home, "br0")
        else:
            server = self.server
            link = f"v{self.tag}{index}"
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", link, "netns", server.netns)
            _ip("-n", server.netns, "link", "set", link, "master", "br0", "up")
            _ip("-n", netns, "addr", "add", f"{SUBNET}.{index}/24", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            machine = Machine(name, netns, f"{SUBNET}.{index}", home, link)
        self.machines[name] = machine
        return machine

    @property
    def server(self) -> Machine:
        return next(iter(self.machines.values()))

    def cut(self, name: str) -> None:
        """Pull the machine's cable out (on the server's side)."""
        _ip("-n", self.server.netns, "link", "set", self.machines[name].link, "down")

    def mend(self, name: str) -> None:
        _ip("-n", self.server.netns, "link", "set", self.machines[name].link, "up")

    def run(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 180,
        view: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``args`` on machine ``name``: its network, and of the test's tree only its own
        folder (with ``view`` False, all of it: a trusted machine's view, as the person's
        commands need to start the sandbox of their own)."""
        machine = self.machines[name]
        shown = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", str(self.root),
                 "--bind", str(machine.home), str(machine.home),
                 "--chdir", str(cwd or machine.home), "--"]  # fmt: skip
        return subprocess.run(
            ["ip", "netns", "exec", machine.netns, *(shown if view else []), *args],
            cwd=cwd or machine.home,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        for machine in reversed(list(self.machines.values())):
            subprocess.run(["ip", "netns", "pids", machine.netns], capture_output=True)
            killed = subprocess.run(["ip", "netns", "pids", machine.netns],
                                    capture_output=True, text=True)  # fmt: skip
            for pid in killed.stdout.split():
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", machine.netns], capture_output=True)
        self.machines.clear()


@dataclass
class Sshd:
    """The server's OpenSSH daemon: port 22 at the server's address, root may log in only
    with a key whose authorized_keys line forces a command (what `hub authorized-keys`
    writes). Its folder is under /run: sshd's StrictModes wants root-owned folders up to /."""

    proc: subprocess.Popen[bytes]
    folder: Path
    host_key: str

    @property
    def authorized_keys(self) -> Path:
        return self.folder / "authorized_keys"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_sshd(net: Network, hide: Sequence[Path] = ()) -> Sshd:
    """sshd on the server; ``hide``: files its sessions see as empty (bind-mounted over with
    /dev/null in the mount namespace `ip netns exec` gives it), such as an account's
    ~/.bashrc, which bash reads for every command sshd runs."""
    server = net.server
    folder = Path("/run") / f"ainarres-sshd-{net.tag}"
    folder.mkdir(mode=0o700)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hub",
                    "-f", str(folder / "host_key")], check=True)  # fmt: skip
    (folder / "authorized_keys").write_text("")
    (folder / "authorized_keys").chmod(0o600)
    (folder / "sshd_config").write_text("\n".join([
        f"ListenAddress {server.address}:22", f"HostKey {folder / 'host_key'}", "PidFile none",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "StrictModes yes",
        "PermitRootLogin forced-commands-only", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "LogLevel VERBOSE", "",
    ]))  # fmt: skip
    sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", str(folder / "sshd_config")]
    hidden = [str(path) for path in hide if path.exists()]
    if hidden:
        # -n: no record in /run/mount (it would outlive the namespace)
        mounts = " && ".join(f"mount -n --bind /dev/null {shlex.quote(p)}" for p in hidden)
        sshd = ["sh", "-c", f'{mounts} && exec "$@"', "sh", *sshd]
    with (net.root.parent / "sshd.log").open("ab") as log:
        proc = subprocess.Popen(["ip", "netns", "exec", server.netns, *sshd], stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    host_key = " ".join((folder / "host_key.pub").read_text().split()[:2])
    deadline = time.monotonic() + 15
    while True:
        probe = subprocess.run(["ip", "netns", "exec", server.netns, "ss", "-Hltn",
                                "sport = :22"], capture_output=True, text=True)  # fmt: skip
        if server.address in probe.stdout:
            return Sshd(proc, folder, host_key)
        assert proc.poll() is None, "sshd exited: see sshd.log"
        assert time.monotonic() < deadline, "sshd did not listen within 15 s"
        time.sleep(0.05)


def ainarres(*args: str) -> list[str]:
    """The ainarres command line, as this interpreter runs it."""
    return [sys.executable, "-m", "ainarres", *args]
