"""Remember recently used push-certificate nonces so a certificate cannot be replayed.

git's nonce is ``<unix-seconds>-<HMAC(seed, path:seconds)>``, and over ssh or file
transports GIT_PUSH_CERT_NONCE_STATUS is OK whenever the signed nonce equals the one
issued to the current connection. Two connections to the same path in the same second
are issued the same nonce, so a certificate captured from one push and replayed within
that second would pass git's check.

The ledger therefore remembers each (nonce, certificate) pair and refuses a repeat: a
replay sends the very same certificate blob (same object id), while a legitimate second
push in the same second signs different content (other updates or push options) and
still gets through. A nonce older than git's
one-second window can never be OK again, so the ledger keeps recent entries only.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ainarres.git.layout import state_dir

LEDGER = "push-cert-nonces"
# Generous against clock steps; anything older is rejected by git as BAD anyway.
KEEP_SECONDS = 600


def _stamp(nonce: str) -> int:
    head = nonce.partition("-")[0]
    return int(head) if head.isdigit() else 0


def ledger_entry(nonce: str, cert_oid: str) -> str:
    """The ledger line for a signed push: its nonce and its certificate's object id."""
    return f"{nonce} {cert_oid}"


def check_and_record(hub_dir: Path, entry: str, now: float) -> bool:
    """Record ``entry`` (see :func:`ledger_entry`) as used; True if it was used before.

    The ledger is rewritten under an exclusive lock, so two concurrent pushes cannot
    both claim the same entry.
    """
    path = state_dir(hub_dir) / LEDGER
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        seen = [line for line in ledger.read().splitlines() if line]
        keep = [line for line in seen if _stamp(line) >= now - KEEP_SECONDS]
        reused = entry in keep
        if not reused:
            keep.append(entry)
        ledger.seek(0)
        ledger.truncate()
        ledger.write("".join(line + "\n" for line in keep))
    return reused
