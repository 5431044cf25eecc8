"""Speak git's push protocol by hand, to replay a captured push certificate.

A normal client always signs the nonce it was just given, so a replay needs a client
that sends an old certificate verbatim. This is the attacker's side of the test.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def pkt_line(data: bytes) -> bytes:
    """Frame ``data`` as a pkt-line (4 hex digits of length, then the payload)."""
    return b"%04x" % (len(data) + 4) + data


def read_pkt_line(stream: IO[bytes]) -> bytes | None:
    """Read one pkt-line; None for a flush packet."""
    head = stream.read(4)
    assert len(head) == 4, f"short read from receive-pack: {head!r}"
    size = int(head, 16)
    return None if size == 0 else stream.read(size - 4)


def empty_pack() -> bytes:
    """A valid pack with no objects, for updates whose objects the hub already has."""
    body = b"PACK" + struct.pack(">II", 2, 0)
    return body + hashlib.sha1(body).digest()


def pack_between(repo: Path, old: str, new: str) -> bytes:
    """A pack of the objects reachable from ``new`` but not from ``old``."""
    done = subprocess.run(
        ["git", "pack-objects", "--revs", "--stdout", "--quiet"],
        cwd=repo,
        input=f"{new}\n^{old}\n".encode(),
        capture_output=True,
        check=True,
    )
    return done.stdout


@dataclass(frozen=True)
class WireResult:
    """What receive-pack said back to the replayed push."""

    returncode: int
    advertised_nonce: str
    report: bytes
    stderr: str


def sign_certificate(body: str, private_key: Path, passphrase: str | None = None) -> bytes:
    """Sign a push certificate body the way git does: ssh signature in namespace git, appended."""
    from ainarres.git.push import askpass_env

    env = {**os.environ, **(askpass_env(passphrase) if passphrase else {})}
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "cert"
        payload.write_text(body)
        subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(private_key), str(payload)],
            check=True,
            capture_output=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        return body.encode() + Path(f"{payload}.sig").read_bytes()


def replay_push_cert(hub_dir: Path, cert: bytes, pack: bytes) -> WireResult:
    """Send ``cert`` verbatim as the push certificate of a push to ``hub_dir``."""
    return push_with_cert(hub_dir, lambda _nonce: cert, pack)


def push_with_cert(hub_dir: Path, make_cert: Callable[[str], bytes], pack: bytes) -> WireResult:
    """Push to ``hub_dir`` with the certificate ``make_cert(advertised_nonce)`` returns."""
    proc = subprocess.Popen(
        ["git", "receive-pack", str(hub_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    capabilities = b""
    while (line := read_pkt_line(proc.stdout)) is not None:
        if not capabilities:
            capabilities = line.partition(b"\0")[2]
    nonce = next(
        (
            c.partition(b"=")[2].decode()
            for c in capabilities.split()
            if c.startswith(b"push-cert=")
        ),
        "",
    )
    request = pkt_line(b"push-cert\0report-status\n")
    for cert_line in make_cert(nonce).splitlines(keepends=True):
        request += pkt_line(cert_line)
    request += pkt_line(b"push-cert-end\n") + b"0000" + pack
    report, stderr = proc.communicate(request, timeout=60)
    return WireResult(proc.returncode, nonce, report, stderr.decode(errors="replace"))
