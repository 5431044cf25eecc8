"""Passwords made, stored 0600 and read back; never logged or printed.

Layout under the state directory:
  credentials/            0700
    operator.json         the person's credential (the database superuser on the embedded board)
    families/NAME.json    one database role and password per family
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ainarres.errors import AinarresError, BadInput
from ainarres.store import Store

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


@dataclass(frozen=True)
class DbCredential:
    """A database login: role name and password."""

    user: str
    password: str


def new_password() -> str:
    """A random password with 192 bits of entropy, safe in a libpq connection string."""
    return secrets.token_urlsafe(24)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents we own) with mode 0700; never loosen an existing parent."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def credentials_dir(state_dir: Path) -> Path:
    return Store(state_dir).credentials


def operator_file(state_dir: Path) -> Path:
    return Store(state_dir).operator_credential


def family_file(state_dir: Path, family: str) -> Path:
    """The family's credential file; a name that is not a family's is refused first."""
    return Store(state_dir).family_credential(family)


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically with mode 0600 from the first byte: no window where it is readable."""
    write_private_text(path, json.dumps(data))


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 from the first byte (its folder 0700)."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_credential(path: Path, cred: DbCredential, **extra: Any) -> None:
    """A login (and any extra fields, such as an address) in a 0600 file."""
    write_private_json(path, {"user": cred.user, "password": cred.password, **extra})


# Where a sealed credential's passphrase comes from: the CLI sets a terminal prompt (or the
# file named by $AINARRES_OPERATOR_PASSPHRASE_FILE); None means nobody can be asked.
PassphraseSource = Callable[[Path], str]
_passphrase_source: PassphraseSource | None = None
OPERATOR_PASSPHRASE_ENV = "AINARRES_OPERATOR_PASSPHRASE_FILE"


def set_passphrase_source(source: PassphraseSource | None) -> None:
    """Tell the credential reader how to ask for a passphrase (the CLI does, at start)."""
    global _passphrase_source
    _passphrase_source = source


def passphrase_from_file(env_var: str) -> str | None:
    """The passphrase in the file named by `env_var` (the automation path), or None when the
    variable is unset; an unreadable file is an error naming it."""
    source = os.environ.get(env_var)
    if not source:
        return None
    try:
        return Path(source).read_text().rstrip("\n")
    except OSError as exc:
        raise BadInput(f"cannot read the passphrase file {source}: {exc.strerror}") from None


def fernet(passphrase: str, salt: bytes) -> Fernet:
    """The key a passphrase and salt make (scrypt), for sealing a credential or a bundle."""
    # Imported here: most commands (and the hub's hook) never open a sealed credential.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode())))


def seal_credential(path: Path, cred: DbCredential, passphrase: str) -> None:
    """Store the password encrypted under a passphrase (scrypt + Fernet): no plaintext copy."""
    if not passphrase:
        raise BadInput("the passphrase must not be empty")
    salt = secrets.token_bytes(16)
    token = fernet(passphrase, salt).encrypt(cred.password.encode()).decode()
    write_private_json(
        path, {"user": cred.user, "sealed": token, "salt": base64.b64encode(salt).decode()}
    )


def _unseal(path: Path, data: dict[str, Any], what: str) -> str:
    source = _passphrase_source
    from_file = passphrase_from_file(OPERATOR_PASSPHRASE_ENV)
    if from_file is not None:
        passphrase = from_file
    elif source is not None:
        passphrase = source(path)
    else:
        raise BadInput(
            f"the credential for {what} ({path}) is passphrase-protected: run this on "
            f"a terminal or set {OPERATOR_PASSPHRASE_ENV} (weaker)"
        )
    from cryptography.fernet import InvalidToken

    try:
        salt = base64.b64decode(data["salt"])
        return fernet(passphrase, salt).decrypt(data["sealed"].encode()).decode()
    except InvalidToken:
        raise BadInput(f"wrong passphrase for {path}") from None


def read_credential(path: Path, what: str) -> DbCredential:
    """Read a credential file, refusing one that others could read."""
    try:
        st = path.stat()
        text = path.read_text()
    except FileNotFoundError:
        raise AinarresError(
            f"no credential for {what}: {path} does not exist; "
            "run `ainarres init` (operator) or `ainarres family add` (family) first"
        ) from None
    except PermissionError:
        raise AinarresError(
            f"cannot read the credential for {what}: {path} is not readable"
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AinarresError(
            f"refusing credential {path}: its mode is {stat.S_IMODE(st.st_mode):04o}, "
            f"others may read it; run `chmod 600 {path}`"
        )
    try:
        data = json.loads(text)
        if "sealed" in data:
            return DbCredential(user=str(data["user"]), password=_unseal(path, data, what))
        return DbCredential(user=str(data["user"]), password=str(data["password"]))
    except (ValueError, KeyError, TypeError):
        raise BadInput(
            f"credential file {path} is damaged: expected JSON with user and password"
        ) from None
