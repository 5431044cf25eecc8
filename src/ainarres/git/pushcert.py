"""Parse what git hands a pre-receive hook: the push certificate variables and the ref updates.

Pure functions over strings; no git calls, so the hook stays fast and this is easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ainarres.errors import BadInput

_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# What git's GIT_PUSH_CERT_STATUS letters mean (see git help verify-commit / %G?).
SIGNATURE_STATUS = {
    "G": "good signature",
    "B": "bad signature",
    "U": "good signature, unknown validity",
    "X": "good signature that has expired",
    "Y": "good signature made by an expired key",
    "R": "good signature made by a revoked key",
    "E": "signature cannot be checked",
    "N": "no signature",
}


@dataclass(frozen=True)
class PushCert:
    """The push certificate of a signed push, as git verified it before running the hook."""

    status: str
    signer: str
    key: str
    nonce_status: str
    nonce: str
    cert_oid: str = ""
    nonce_slop: int | None = None

    @property
    def status_meaning(self) -> str:
        """Human words for the signature status letter."""
        return SIGNATURE_STATUS.get(self.status, "unknown status")


@dataclass(frozen=True)
class RefUpdate:
    """One line of pre-receive input: ref moves from ``old`` to ``new`` (zero oid = none)."""

    old: str
    new: str
    ref: str

    @property
    def is_create(self) -> bool:
        """The ref does not exist yet."""
        return is_zero_oid(self.old)

    @property
    def is_delete(self) -> bool:
        """The push removes the ref."""
        return is_zero_oid(self.new)


def is_zero_oid(oid: str) -> bool:
    """True for git's all-zero object id (sha1 or sha256) that stands for "no object"."""
    return bool(oid) and set(oid) == {"0"}


def parse_push_cert(env: Mapping[str, str]) -> PushCert | None:
    """Return the push certificate described by ``GIT_PUSH_CERT*`` in ``env``, None if unsigned."""
    cert_oid = env.get("GIT_PUSH_CERT", "")
    if not cert_oid:
        return None
    slop = env.get("GIT_PUSH_CERT_NONCE_SLOP", "")
    try:
        nonce_slop = int(slop) if slop else None
    except ValueError:
        nonce_slop = None
    return PushCert(
        status=env.get("GIT_PUSH_CERT_STATUS", ""),
        signer=env.get("GIT_PUSH_CERT_SIGNER", ""),
        key=env.get("GIT_PUSH_CERT_KEY", ""),
        nonce_status=env.get("GIT_PUSH_CERT_NONCE_STATUS", ""),
        nonce=env.get("GIT_PUSH_CERT_NONCE", ""),
        cert_oid=cert_oid,
        nonce_slop=nonce_slop,
    )


def parse_ref_update(line: str) -> RefUpdate:
    """Parse one ``<old-oid> <new-oid> <refname>`` line; raise BadInput if malformed."""
    parts = line.rstrip("\n").split(" ")
    if len(parts) != 3 or not all(_OID.fullmatch(p) for p in parts[:2]) or not parts[2]:
        raise BadInput(f"malformed pre-receive line: {line.rstrip()!r}")
    old, new, ref = parts
    if is_zero_oid(old) and is_zero_oid(new):
        raise BadInput(f"pre-receive line neither creates nor updates: {line.rstrip()!r}")
    return RefUpdate(old=old, new=new, ref=ref)


def parse_ref_updates(lines: Iterable[str]) -> list[RefUpdate]:
    """Parse every non-blank pre-receive input line."""
    return [parse_ref_update(line) for line in lines if line.strip()]
