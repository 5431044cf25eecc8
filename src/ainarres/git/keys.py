"""SSH signing keys that sign push certificates (``git push --signed`` with gpg.format=ssh)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput
from ainarres.git._run import run

# A principal becomes the first field of an allowed-signers line, and git hands it to
# the hook as GIT_PUSH_CERT_SIGNER. Whitespace, quotes or commas would change how
# ssh-keygen parses that line (a comma separates several principals), so keep it plain.
_PRINCIPAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


@dataclass(frozen=True)
class SigningKey:
    """An SSH key pair on disk and the principal it signs as."""

    private_key: Path
    public_key: str
    principal: str

    @property
    def public_key_path(self) -> Path:
        """The ``.pub`` file next to the private key."""
        return self.private_key.with_name(self.private_key.name + ".pub")


def check_principal(principal: str) -> str:
    """Return ``principal`` if it is usable in an allowed-signers file, else raise BadInput."""
    if not _PRINCIPAL.fullmatch(principal):
        raise BadInput(
            f"principal {principal!r} is not allowed; use letters, digits and . _ @ + - "
            "(no spaces, quotes or commas), e.g. 'integrator@example'"
        )
    return principal


def generate_signing_key(path: Path, principal: str, passphrase: str | None = None) -> SigningKey:
    """Create a new ed25519 key at ``path`` (and ``path.pub``) that signs as ``principal``.

    The parent directory is created with mode 0700 when missing (an existing directory
    is left alone); ssh-keygen writes the private key with mode 0600. An existing key is
    never overwritten. Note that the passphrase is visible to other local users in the
    process list while ssh-keygen runs.
    """
    check_principal(principal)
    if path.exists() or path.with_name(path.name + ".pub").exists():
        raise BadInput(f"{path} already exists; choose another path or load the existing key")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase or "",
            "-C",
            principal,
            "-f",
            str(path),
        ]
    )
    # ssh-keygen already writes 0600, but a permissive umask must never leak the key.
    path.chmod(0o600)
    return load_signing_key(path, principal)


def load_signing_key(path: Path, principal: str) -> SigningKey:
    """Return the SigningKey for an existing private key at ``path`` with ``path.pub`` beside it."""
    check_principal(principal)
    # Absolute, because git runs ssh-keygen from the clone's directory, not ours.
    path = path.resolve()
    pub = path.with_name(path.name + ".pub")
    if not path.is_file() or not pub.is_file():
        raise BadInput(f"no key pair at {path} (need both {path.name} and {pub.name})")
    return SigningKey(private_key=path, public_key=pub.read_text().strip(), principal=principal)


def allowed_signers_line(key: SigningKey) -> str:
    """Return the allowed-signers line that lets ``key`` sign git objects as its principal.

    The ``namespaces="git"`` option limits the key to git signatures (push certificates,
    commits, tags), which is the namespace git passes to ``ssh-keygen -Y verify``.
    """
    fields = key.public_key.split()
    if len(fields) < 2:
        raise BadInput(f"public key of {key.private_key} is malformed: {key.public_key!r}")
    return f'{key.principal} namespaces="git" {fields[0]} {fields[1]}'


def is_protected(path: Path) -> bool:
    """Whether the private key at ``path`` needs a passphrase."""
    done = run(["ssh-keygen", "-y", "-P", "", "-f", str(path)], check=False)
    return done.returncode != 0


def passphrase_opens(path: Path, passphrase: str) -> bool:
    """Whether ``passphrase`` decrypts the private key at ``path``."""
    return run(["ssh-keygen", "-y", "-P", passphrase, "-f", str(path)], check=False).returncode == 0


def protect(path: Path, passphrase: str) -> None:
    """Put a passphrase on the (unprotected) private key at ``path``."""
    if not passphrase:
        raise BadInput("the passphrase must not be empty")
    done = run(["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(path)], check=False)
    if done.returncode != 0:
        raise BadInput(f"cannot protect {path}: it already has a passphrase, or is unreadable")


def fingerprint(key: SigningKey) -> str:
    """The key's SHA256 fingerprint, as ssh-keygen prints it (SHA256:...)."""
    done = run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key.public_key_path)])
    return done.stdout.split()[1]


def replace_key(current: Path, new: SigningKey) -> SigningKey:
    """Move the key pair `new` (made beside `current`) into `current`'s place."""
    os.replace(new.public_key_path, current.with_name(current.name + ".pub"))
    os.replace(new.private_key, current)
    return load_signing_key(current, new.principal)
