"""One file that sets up a machine to run one family: `ainarres family export` writes it on
the person's machine, `ainarres join` sets up a state directory from it on the agent's.

A bundle holds what that machine needs, and nothing more:

- the board's network address as agents reach it (host, port, database, TLS mode), the CA
  certificate that verifies the server (its content, when the address names one), and the
  family's own database login;
- the family's signing key, both halves: it signs the family's pushes and reaches an ssh hub;
- the hub's URL, and the hub server's ssh host keys when the person gives them.

Never in a bundle: the operator's credential (its login is stripped from the address),
another family's credential or key, and the integrator's key (a family that holds the
integrator grant is refused). Export refuses what would not work on another machine: a board
reached over a Unix socket (the embedded board) or a loopback address, a hub that is a
folder on this machine.

The file is JSON, mode 0600 from its first byte:

    {"format": "ainarres-bundle", "version": 1, "bundle": {...}, "digest": "sha256:<hex>"}

or, sealed under a passphrase with the operator credential's scrypt + Fernet
(`credentials.py`; a passphrase of its own, from $AINARRES_BUNDLE_PASSPHRASE_FILE or the
terminal, never the operator's):

    {"format": "ainarres-bundle", "version": 1, "sealed": "<token>", "salt": "<base64>"}

whose token opens to the first form. The digest finds a damaged file (cut short, edited);
the checks below find a bundle whose parts do not fit together. Only a sealed bundle says
who made it (someone who knew the passphrase): Fernet refuses a token changed by one bit.
`join` validates all of it before it writes anything.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ainarres import project
from ainarres.board import reads
from ainarres.board.db import connect, family_credential, operator_conninfo
from ainarres.board.embedded import EmbeddedServer
from ainarres.config import Settings
from ainarres.credentials import (
    DbCredential,
    ensure_private_dir,
    fernet,
    passphrase_from_file,
    write_credential,
    write_private_json,
    write_private_text,
)
from ainarres.errors import AinarresError, BadInput
from ainarres.git.keys import fingerprint, load_signing_key
from ainarres.git.location import HubLocation, known_hosts_lines, parse_hub
from ainarres.rows import FamilyRow
from ainarres.store import Store, family_name
from ainarres.text import clip, read_small_text

FORMAT = "ainarres-bundle"
VERSION = 1
PASSPHRASE_ENV = "AINARRES_BUNDLE_PASSPHRASE_FILE"
MAX_FILE = 4 * 1024 * 1024  # a bundle file, sealed (base64 of the plain one) or not
MAX_CA = 1024 * 1024
MAX_HOST_KEYS = 64 * 1024
DOCS = ".agents/design/external-database.md"

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING = ("verify-ca", "verify-full")
# The libpq keywords of a board's address a bundle may carry. Nothing that names a login,
# a local file (sslrootcert travels as the CA's content; only "system" stays a keyword), a
# client certificate, or anything else libpq would read or write on the joined machine.
ADDRESS_KEYS = (
    "host",
    "hostaddr",
    "port",
    "dbname",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "channel_binding",
    "require_auth",
    "target_session_attrs",
    "connect_timeout",
)
_CLIENT_CERT = ("sslcert", "sslkey", "sslpassword", "sslcertmode")
_LOGIN = ("user", "password", "passfile")
_ROLE = re.compile(r"[a-z0-9_]{1,63}")
_PASSWORD = re.compile(r"[\x21-\x7e]{8,1024}")
_VALUE = re.compile(r"[\x20-\x7e]{1,255}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=\n]{1,16000})"
    r"-----END OPENSSH PRIVATE KEY-----\n?"
)
_PUBLIC_KEY = re.compile(
    r"ssh-ed25519 ([A-Za-z0-9+/]{1,200}={0,2})(?: [\x21-\x7e][\x20-\x7e]*)?\n?"
)
_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_CA_LABELS = ("CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CRL")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_GITIGNORE = "# ainarres's state: credentials, the board, caches. Never commit.\n*\n"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


_M = TypeVar("_M", bound=_Strict)


class BoardLogin(_Strict):
    """The board as agents reach it, and the family's own login to it."""

    address: dict[str, str] = Field(max_length=len(ADDRESS_KEYS))
    user: str = Field(max_length=63)
    password: str = Field(max_length=1024)
    ca: str | None = Field(default=None, max_length=MAX_CA)


class KeyPair(_Strict):
    """The family's ed25519 signing key: an OpenSSH private key file and its .pub line."""

    private: str = Field(max_length=16384)
    public: str = Field(max_length=512)


class HubPlace(_Strict):
    url: str = Field(max_length=4096)
    known_hosts: str | None = Field(default=None, max_length=MAX_HOST_KEYS)


class Bundle(_Strict):
    family: str = Field(max_length=64)
    board: BoardLogin
    key: KeyPair
    hub: HubPlace


class _Plain(_Strict):
    format: Literal["ainarres-bundle"]
    version: Literal[1]
    bundle: dict[str, Any]  # checked against its digest first, then as a Bundle
    digest: str


class _Sealed(_Strict):
    format: Literal["ainarres-bundle"]
    version: Literal[1]
    sealed: str = Field(max_length=MAX_FILE)
    salt: str = Field(max_length=64)


# -- export -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """The board's address for a bundle: libpq keywords, the CA's content, and what was
    left out of the source (said as warnings)."""

    keywords: dict[str, str]
    ca: str | None
    warnings: list[str] = field(default_factory=list)


def board_address(settings: Settings, board_url: str | None) -> Address:
    """The board's address as other machines reach it: ``board_url`` when given, else this
    project's database URL without its login. Refused (BadInput) when no other machine
    could use it: the embedded board, a Unix socket, a loopback address."""
    if settings.embedded:
        raise BadInput(
            "this project's board is the embedded one, which listens on a Unix socket under "
            "the state directory and nowhere else: no other machine can reach it. A board "
            f"shared across machines is a server PostgreSQL reached over TLS (see {DOCS}: "
            "`ainarres init --database-url`); then export with its address"
        )
    if board_url is not None:
        source, explicit = parse_board_url(board_url), True
    else:
        assert settings.database_url is not None
        source, explicit = operator_conninfo(settings), False
    warnings = []
    if not explicit:
        held = [k for k in _CLIENT_CERT if source.get(k)]
        if held:
            warnings.append(
                f"the database URL's client certificate ({', '.join(held)}) is "
                "not carried: the family logs in with its own password"
            )
    keywords = {k: str(source[k]) for k in ADDRESS_KEYS if source.get(k)}
    ca = None
    root = keywords.get("sslrootcert")
    if root is not None and root != "system":
        ca = read_small_text(Path(root), "the CA certificate (sslrootcert)", MAX_CA)
        check_ca(ca)
        del keywords["sslrootcert"]
    check_address(keywords)
    mode = keywords.get("sslmode", "prefer")
    if mode not in VERIFYING:
        warnings.append(
            f"the board's address has sslmode={mode}: agents will not verify the "
            "server's certificate; use sslmode=verify-full and sslrootcert=CA_FILE "
            "in --board-url"
        )
    elif ca is None and root is None:
        warnings.append(
            f"sslmode={mode} with no sslrootcert: the joined machine verifies "
            "the server with its own ~/.postgresql/root.crt; name the CA file "
            "in --board-url (sslrootcert=FILE) to carry it"
        )
    return Address(keywords, ca, warnings)


def parse_board_url(url: str) -> dict[str, str]:
    """``postgresql://HOST[:PORT]/DBNAME[?sslmode=…&sslrootcert=FILE]`` as libpq keywords:
    an address only (no login), one host, keywords a bundle may carry."""
    how = "give postgresql://HOST[:PORT]/DBNAME[?sslmode=verify-full&sslrootcert=CA_FILE]"
    if _CONTROL.search(url) or url != url.strip():
        raise BadInput(
            f"--board-url {clip(url)!r} has spaces around it or control characters; {how}"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise BadInput(f"--board-url is not a valid URL ({exc}); {how}") from None
    if "@" in parts.netloc:  # before any message shows the URL: it may hold a password
        raise BadInput(
            "--board-url names a login: give the board's address only (the bundle "
            "carries the family's own login, from its credential)"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"--board-url {clip(url)!r} is not a valid URL ({exc}); {how}") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadInput(f"--board-url {clip(url)!r} is not a postgresql:// URL; {how}")
    if "," in parts.netloc or not parts.hostname:
        raise BadInput(f"--board-url {clip(url)!r} must name one host; {how}")
    if parts.fragment:
        raise BadInput(f"--board-url {clip(url)!r} has a #fragment; {how}")
    out = {"host": parts.hostname}
    if port is not None:
        out["port"] = str(port)
    dbname = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if dbname:
        out["dbname"] = dbname
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise BadInput(f"--board-url {clip(url)!r} has a malformed query; {how}") from None
    for key, value in query:
        if key in _LOGIN:
            raise BadInput(
                f"--board-url sets {key}: give the board's address only (the "
                "bundle carries the family's own login, from its credential)"
            )
        if key not in ADDRESS_KEYS:
            raise BadInput(
                f"--board-url sets {clip(key)!r}, which a bundle does not carry; "
                f"it carries {', '.join(ADDRESS_KEYS)}"
            )
        if key in out:
            raise BadInput(f"--board-url sets {key} twice")
        out[key] = value
    return out


def check_address(keywords: dict[str, str]) -> None:
    """BadInput unless ``keywords`` is a board address another machine can use."""
    for key, value in keywords.items():
        if key not in ADDRESS_KEYS:
            raise BadInput(f"the board's address sets {clip(key)!r}, which a bundle never carries")
        if not _VALUE.fullmatch(value):
            raise BadInput(
                f"the board's {key} {clip(value)!r} is empty, too long or not plain text"
            )
    host = keywords.get("host")
    if not host:
        raise BadInput(
            "the board's address names no host, so libpq would use this machine's Unix "
            f"socket; give it as agents reach it: --board-url postgresql://HOST:PORT/DBNAME (see "
            f"{DOCS})"
        )
    for one in host.split(","):
        if not one or one.startswith(("/", "@")):
            raise BadInput(
                f"the board is reached over a Unix socket ({clip(one)}), which no other "
                "machine can use. A board shared across machines is a server PostgreSQL "
                f"reached over TCP with TLS (see {DOCS}); give its address as agents reach "
                "it: --board-url postgresql://HOST:PORT/DBNAME?sslmode=verify-full&"
                "sslrootcert=CA_FILE"
            )
        _not_loopback(one, "host")
    for one in keywords.get("hostaddr", "").split(","):
        if one:
            _not_loopback(one, "hostaddr")
    for one in keywords.get("port", "5432").split(","):
        if not one.isdigit() or not 0 < int(one) < 65536:
            raise BadInput(f"the board's port {clip(one)!r} is not a port number")
    if not keywords.get("dbname"):
        raise BadInput(
            "the board's address names no database: add it (…/DBNAME in "
            "--board-url), or libpq would take the family's role name"
        )
    if keywords.get("sslmode", "prefer") not in SSLMODES:
        raise BadInput(
            f"the board's sslmode {clip(keywords['sslmode'])!r} is not one of {', '.join(SSLMODES)}"
        )
    if keywords.get("sslrootcert", "system") != "system":
        raise BadInput(
            "the board's sslrootcert names a file on one machine; a bundle carries "
            "the certificate's content instead"
        )


def _not_loopback(host: str, key: str) -> None:
    name = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        loopback = name == "localhost" or name.endswith(".localhost")
    else:
        loopback = ip.is_loopback or ip.is_unspecified
    if loopback:
        raise BadInput(
            f"the board's {key} {host} is this machine's own loopback: on another machine it "
            "names that machine. Give the board's address as agents reach it: --board-url "
            "postgresql://HOST:PORT/DBNAME?sslmode=verify-full&sslrootcert=CA_FILE"
        )


def check_ca(text: str) -> None:
    """BadInput unless ``text`` is PEM certificates (and CRLs) only: never a private key."""
    labels = _PEM_LABEL.findall(text)
    if "CERTIFICATE" not in labels or any(label not in _CA_LABELS for label in labels):
        raise BadInput(
            "the CA file (sslrootcert) must hold PEM certificates only (BEGIN "
            "CERTIFICATE), never a key"
        )
    from cryptography import x509

    try:
        x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise BadInput(
            "the CA file (sslrootcert) holds a certificate that cannot be read"
        ) from None


def hub_place(settings: Settings, hub_url: str | None, host_keys: Path | None) -> HubPlace:
    """The hub as other machines reach it: ``hub_url``, else this project's hub when that is
    a URL; with the hub server's ssh host keys read from ``host_keys``."""
    where = parse_hub(hub_url) if hub_url is not None else project.configured_hub(settings)
    if where is None:
        raise BadInput("this project has no hub yet: name the one agents reach with --hub URL")
    if where.local is not None:
        raise BadInput(
            f"the hub is a folder on this machine ({where.local}), which another machine "
            "cannot reach by that path: name the URL agents reach it at with --hub (e.g. "
            "ssh://hub@server/srv/project.git; see `ainarres hub authorized-keys`)"
        )
    keys = None
    if host_keys is not None:
        text = read_small_text(host_keys, "the hub's host keys file", MAX_HOST_KEYS)
        lines = [line.strip() for line in text.splitlines()]
        keys = "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"
    place = HubPlace(url=where.url, known_hosts=keys)
    check_hub(place)
    return place


def check_hub(place: HubPlace) -> HubLocation:
    """BadInput unless the hub is a URL another machine can reach, with host keys (if any)
    in known_hosts form and only for an ssh hub."""
    where = parse_hub(place.url)
    if where.local is not None:
        raise BadInput(f"the hub {clip(place.url)!r} is a folder, which no other machine can reach")
    if "://" in place.url and urlsplit(place.url).password is not None:
        raise BadInput("the hub's URL holds a password; give it without one")
    if place.known_hosts is not None:
        if not where.over_ssh:
            raise BadInput(f"host keys are for an ssh hub; the hub {where.url} is not one")
        known_hosts_lines(place.known_hosts)
    return where


@dataclass(frozen=True)
class Made:
    """What `export` wrote, for the person (no secret in it)."""

    bundle: Bundle
    fingerprint: str
    warnings: list[str]


def build(settings: Settings, row: FamilyRow, address: Address, hub: HubPlace) -> Made:
    """The bundle for the family of ``row`` (as the board lists it): refused for the
    integrator (any integrator grant, held or not) and a retired family."""
    name = family_name(row.name)
    if any(g.role == "integrator" for g in row.grants):
        raise BadInput(
            f"family {name} holds the integrator grant: the integrator's key never leaves the "
            "person's machine, so it is not exported. Run `ainarres integrate` where that key "
            f"is; to export {name} for other work, `ainarres revoke {name} integrator` first"
        )
    if row.retired_at is not None:
        raise BadInput(f"family {name} is retired: its login is off; add a new family instead")
    cred = family_credential(settings, name)
    if cred.user != row.db_role:
        raise BadInput(
            f"{Store(settings.state_dir).family_credential(name)} is for role "
            f"{cred.user}, but the board's {name} is {row.db_role}: this state "
            "directory is not the board's; run export where `family add` ran"
        )
    path = project.key_path(settings, name)
    if not path.exists():
        raise BadInput(
            f"family {name} has no signing key at {path}: export it on the machine that holds it"
        )
    key = load_signing_key(path, name)
    made = Bundle(
        family=name,
        board=BoardLogin(
            address=address.keywords, user=cred.user, password=cred.password, ca=address.ca
        ),
        key=KeyPair(
            private=read_small_text(key.private_key, "the signing key", 16384),
            public=read_small_text(key.public_key_path, "the public key", 512),
        ),
        hub=hub,
    )
    check_bundle(made)
    return Made(made, fingerprint(key), list(address.warnings))


def render(made: Bundle, passphrase: str | None) -> str:
    """The bundle file's text: plain, or sealed under ``passphrase``."""
    body = made.model_dump(mode="json")
    plain = json.dumps(
        {"format": FORMAT, "version": VERSION, "bundle": body, "digest": _digest(body)}, indent=1
    )
    if passphrase is None:
        return plain + "\n"
    if not passphrase:
        raise BadInput("the passphrase must not be empty")
    salt = secrets.token_bytes(16)
    token = fernet(passphrase, salt).encrypt(plain.encode()).decode()
    sealed = {
        "format": FORMAT,
        "version": VERSION,
        "sealed": token,
        "salt": base64.b64encode(salt).decode(),
    }
    return json.dumps(sealed) + "\n"


def _digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def refuse_existing(dest: Path, force: bool) -> None:
    """BadInput when ``dest`` is there and may not be replaced (or is not a file)."""
    if dest.is_symlink() or dest.exists():
        if not force:
            raise BadInput(f"{dest} already exists; choose another file or pass --force")
        if dest.is_dir() and not dest.is_symlink():
            raise BadInput(f"{dest} is a folder; name a file")
    if not dest.parent.is_dir():
        raise BadInput(f"{dest.parent} is not a folder; make it first")


def write_new_file(dest: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``dest`` atomically, mode 0600 from its first byte, its folder left
    as it is; an existing ``dest`` is never replaced without ``force`` (not even by a race)."""
    refuse_existing(dest, force)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if dest appeared meanwhile: never replaced
            except FileExistsError:
                raise BadInput(
                    f"{dest} already exists; choose another file or pass --force"
                ) from None
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# -- join ---------------------------------------------------------------------------------


def open_bundle(path: Path, ask: Callable[[str], str] | None) -> Bundle:
    """The bundle in ``path``, opened (a sealed one with the passphrase from
    $AINARRES_BUNDLE_PASSPHRASE_FILE or ``ask``) and validated whole; BadInput names
    what is wrong."""
    text = read_small_text(path, "the bundle", MAX_FILE)
    damaged = f"the bundle {path} is damaged or was altered"
    try:
        raw = json.loads(text)
    except ValueError:
        raise BadInput(f"{damaged}: it is not whole JSON (cut short?)") from None
    if isinstance(raw, dict) and "sealed" in raw:
        sealed = _validated(_Sealed, raw, damaged)
        text = _unseal(path, sealed, ask)
        try:
            raw = json.loads(text)
        except ValueError:
            raise BadInput(f"{damaged}: its sealed content is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BadInput(f"{path} is not an ainarres bundle (made by `ainarres family export`)")
    if raw.get("version") != VERSION:
        raise BadInput(
            f"{path} is a bundle of version {clip(str(raw.get('version')))}; this "
            f"ainarres reads version {VERSION}"
        )
    plain = _validated(_Plain, raw, damaged)
    if not _DIGEST.fullmatch(plain.digest) or plain.digest != _digest(plain.bundle):
        raise BadInput(f"{damaged}: its content does not match its digest")
    opened = _validated(Bundle, plain.bundle, damaged)
    try:
        check_bundle(opened)
    except BadInput as exc:
        raise BadInput(f"{damaged}: {exc.message}") from None
    return opened


def _validated(model: type[_M], raw: Any, damaged: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the top level"
        raise BadInput(f"{damaged}: {where}: {err['msg']}") from None


def _unseal(path: Path, sealed: _Sealed, ask: Callable[[str], str] | None) -> str:
    passphrase = passphrase_from_file(PASSPHRASE_ENV)
    if passphrase is None:
        if ask is None:
            raise BadInput(
                f"the bundle {path} is sealed under a passphrase: run join on a "
                f"terminal, or set {PASSPHRASE_ENV} (weaker)"
            )
        passphrase = ask(f"Passphrase for the bundle {path}")
    from cryptography.fernet import InvalidToken

    try:
        salt = base64.b64decode(sealed.salt, validate=True)
        return fernet(passphrase, salt).decrypt(sealed.sealed.encode()).decode()
    except (InvalidToken, ValueError):
        raise BadInput(
            f"wrong passphrase for the bundle {path}, or the bundle was altered; "
            "nothing was written"
        ) from None


def check_bundle(made: Bundle) -> None:
    """BadInput unless every part is what export writes and the parts fit together."""
    family_name(made.family)
    check_address(made.board.address)
    if not _ROLE.fullmatch(made.board.user):
        raise BadInput(f"the board login's user {clip(made.board.user)!r} is not a role name")
    if not _PASSWORD.fullmatch(made.board.password):
        raise BadInput("the board login's password is not one ainarres makes")
    if made.board.ca is not None:
        check_ca(made.board.ca)
    key_protected(made.key)
    check_hub(made.hub)


def key_protected(key: KeyPair) -> bool:
    """Whether the key needs a passphrase; BadInput unless ``key.private`` is an OpenSSH
    ed25519 private key whose public half is ``key.public`` (read from the key file's
    unencrypted header; nothing is decrypted)."""
    found = _PRIVATE_KEY.fullmatch(key.private)
    public = _PUBLIC_KEY.fullmatch(key.public)
    if found is None or public is None:
        raise BadInput("the signing key is not an OpenSSH ed25519 key pair")
    try:
        blob = base64.b64decode(found.group(1).replace("\n", ""), validate=True)
        line_blob = base64.b64decode(public.group(1), validate=True)
    except ValueError:
        raise BadInput("the signing key's base64 is damaged") from None
    magic = b"openssh-key-v1\0"
    fields: list[bytes] = []
    pos = len(magic)
    try:
        if not blob.startswith(magic):
            raise ValueError
        for _ in range(3):  # cipher, kdf, kdf options
            item, pos = _ssh_string(blob, pos)
            fields.append(item)
        if int.from_bytes(blob[pos : pos + 4], "big") != 1:
            raise ValueError
        public_blob, pos = _ssh_string(blob, pos + 4)
        _private, pos = _ssh_string(blob, pos)
        kind, at = _ssh_string(public_blob, 0)
        point, at = _ssh_string(public_blob, at)
    except ValueError:
        raise BadInput("the signing key is not a whole OpenSSH private key") from None
    if pos != len(blob) or kind != b"ssh-ed25519" or len(point) != 32 or at != len(public_blob):
        raise BadInput("the signing key is not a whole OpenSSH ed25519 private key")
    if public_blob != line_blob:
        raise BadInput("the signing key's public half does not match its private half")
    return fields[0] != b"none"


def _ssh_string(blob: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(blob):
        raise ValueError
    size = int.from_bytes(blob[pos : pos + 4], "big")
    end = pos + 4 + size
    if end > len(blob):
        raise ValueError
    return blob[pos + 4 : end], end


def conninfo(keywords: dict[str, str]) -> str:
    """libpq's ``key=value`` form, values quoted where they need it (no password here)."""
    order = sorted(keywords, key=lambda k: (ADDRESS_KEYS.index(k) if k in ADDRESS_KEYS else 99, k))
    return " ".join(f"{k}={_quoted(keywords[k])}" for k in order)


def _quoted(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Joined:
    """What `join` wrote (no secret in it)."""

    family: str
    state_dir: Path
    files: list[Path]
    hub: str
    database_url: str
    fingerprint: str
    key_protected: bool


def join(settings: Settings, made: Bundle, force: bool) -> Joined:
    """Set up ``settings.state_dir`` for the bundle's family: its credential (with the
    board's address, sslrootcert pointing at the CA file), its key pair, the CA file, the
    hub. Everything is checked before the first write; an existing credential, key or CA
    file, another hub, or other host keys are replaced only with ``force``."""
    name = family_name(made.family)
    check_bundle(made)
    protected = key_protected(made.key)
    store = Store(settings.state_dir)
    cred_path = store.family_credential(name)
    key_path = store.family_key(name)
    pub_path = key_path.with_name(key_path.name + ".pub")
    ca_path = store.family_ca(name)
    if EmbeddedServer(settings.state_dir).initialized:
        raise BadInput(
            f"{settings.state_dir} holds an embedded board: join a machine in a "
            "state directory of its own (--state-dir or AINARRES_HOME)"
        )
    mine = [cred_path, key_path, pub_path] + ([ca_path] if made.board.ca is not None else [])
    there = [p for p in mine if p.exists() or p.is_symlink()]
    if there and not force:
        raise BadInput(
            f"family {name} is already set up here ({there[0]}); pass --force to "
            "replace its credential and key"
        )
    hub = check_hub(made.hub)
    current = _recorded_hub(settings)
    if current is not None and current != hub.url and not force:
        raise BadInput(
            f"{settings.state_dir} uses the hub {clip(current)}, and the bundle's "
            f"is {hub.url}: join in another state directory, or pass --force"
        )
    if made.hub.known_hosts is not None and store.known_hosts.exists() and not force:
        old = set(store.known_hosts.read_text().splitlines())
        if old != set(made.hub.known_hosts.splitlines()):
            raise BadInput(
                f"{store.known_hosts} accepts other host keys for the hub than the "
                "bundle's: check which are right, then pass --force"
            )
    keywords = dict(made.board.address)
    if made.board.ca is not None:
        keywords["sslrootcert"] = str(ca_path)
    url = conninfo(keywords)

    # Everything is checked: write. Folders 0700 all the way down, files 0600.
    for folder in (
        settings.state_dir,
        store.credentials,
        cred_path.parent,
        key_path.parent.parent,
        key_path.parent,
    ):
        ensure_private_dir(folder)
    ignore = settings.state_dir / ".gitignore"
    ours = [ignore, ca_path, key_path, pub_path, cred_path, store.board_record, store.hub_record,
            store.known_hosts]  # fmt: skip
    before = {p for p in ours if p.exists() or p.is_symlink()}
    try:
        if ignore not in before:
            write_private_text(ignore, _GITIGNORE)
        if made.board.ca is not None:
            write_private_text(ca_path, made.board.ca)
        write_private_text(pub_path, made.key.public)
        write_private_text(key_path, made.key.private)
        write_credential(
            cred_path, DbCredential(made.board.user, made.board.password), database_url=url
        )
        write_private_json(store.board_record, {"url": url})
        project.record_hub(settings, hub.url, made.hub.known_hosts)
        printed = fingerprint(load_signing_key(key_path, name))
    except BaseException:
        for path in ours:  # what this run made; a file replaced with --force stays replaced
            if path not in before:
                path.unlink(missing_ok=True)
        raise
    files = [p for p in ours if p.exists()]
    return Joined(name, settings.state_dir, files, hub.url, url, printed, protected)


def _recorded_hub(settings: Settings) -> str | None:
    """The hub this state directory already records (its URL), None when it has none; a
    record that cannot be read counts as another hub."""
    record = Store(settings.state_dir).hub_record
    try:
        hub = project.recorded_hub(settings)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, BadInput):
        return f"(unreadable record {record})"
    return None if hub is None else hub.url


def try_login(settings: Settings, joined: Joined) -> AinarresError | None:
    """Log in as the joined family with the written files and read the board; the error
    (None: it worked)."""
    url = joined.database_url
    if "connect_timeout=" not in url:
        url += " connect_timeout=15"
    as_joined = Settings(state_dir=settings.state_dir, database_url=url)
    try:
        with connect(as_joined, joined.family) as conn:
            reads.board(conn)
    except AinarresError as exc:
        return exc
    return None
