"""A server PostgreSQL for tests, the way a shared board runs: Debian's `postgresql`
package, TLS only from the network (a CA and a server certificate made here), scram
passwords, no trust. Started as the `postgres` account (PostgreSQL refuses root), in a
folder of the test's own, optionally inside a network namespace.
"""

from __future__ import annotations

import datetime
import glob
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ADMIN = "ainarres_admin"
DATABASE = "ainarres"


def unavailable_reason() -> str | None:
    """Why a Debian PostgreSQL cannot run here, or None."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "Debian's postgresql package is not installed (apt-get install postgresql)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres account (it comes with Debian's postgresql package)"
    if os.geteuid() != 0:
        return "starting a server as the postgres account needs root"
    return None


def _bin(name: str) -> str:
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path, names: list[str], addresses: list[str]) -> Certificates:
    """A throwaway CA and a server certificate for ``names`` and IP ``addresses``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"ainarres test CA {os.urandom(4).hex()}")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Certificates(
        ca=_write_pem(folder / "ca.pem", ca.public_bytes(pem)),
        cert=_write_pem(folder / "server.crt", cert.public_bytes(pem)),
        key=_write_pem(
            folder / "server.key",
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),  # fmt: skip
        ),
    )


class ServerPostgres:
    """One cluster at ``folder``, listening with TLS on ``host``:``port`` only."""

    def __init__(self, folder: Path, host: str, port: int, *, netns: str | None = None,
                 names: tuple[str, ...] = ("localhost",),
                 conf: tuple[str, ...] = ()) -> None:  # fmt: skip
        """``conf``: more postgresql.conf lines, after (so over) the ones set here."""
        self.folder, self.host, self.port, self.netns = folder, host, port, netns
        self.conf = conf
        self.data = folder / "data"
        # Its own short folder: a unix socket path must fit in 107 bytes, and a test's tmp
        # folder may not (pytest-xdist adds a level).
        self.socket_dir = Path(tempfile.mkdtemp(prefix="ainarres-pg-"))
        self.admin_password = "admin-" + os.urandom(8).hex()
        self.certs = make_certificates(folder / "tls", list(names), [host])
        self._names = names

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return subprocess.run([*prefix, "runuser", "-u", "postgres", "--", *args],
                              capture_output=True, text=True, check=check)  # fmt: skip

    def start(self) -> ServerPostgres:
        pg_uid = pwd.getpwnam("postgres").pw_uid
        self.folder.mkdir(parents=True, exist_ok=True)
        # The test's tmp folders are root's 0700: the postgres account needs a way in.
        for parent in [self.folder, *self.folder.parents]:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o711)
        tls = self.folder / "tls"
        for path in (self.folder, self.socket_dir, tls, self.certs.cert, self.certs.key):
            os.chown(path, pg_uid, -1)
        self.certs.key.chmod(0o600)
        pwfile = self.folder / "pw"
        pwfile.write_text(self.admin_password + "\n")
        os.chown(pwfile, pg_uid, -1)
        self._as_postgres(_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth-local=peer", "--auth-host=reject", f"--pwfile={pwfile}",
                          "-E", "UTF8", "--no-instructions")  # fmt: skip
        pwfile.unlink()
        conf = self.data / "postgresql.conf"
        conf.write_text(conf.read_text() + "\n".join([
            "", f"listen_addresses = '{self.host}'", f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "ssl = on", f"ssl_cert_file = '{self.certs.cert}'",
            f"ssl_key_file = '{self.certs.key}'", "ssl_min_protocol_version = 'TLSv1.3'",
            "password_encryption = 'scram-sha-256'", "max_connections = 200",
            "fsync = off", *self.conf, "",
        ]))  # fmt: skip
        (self.data / "pg_hba.conf").write_text(
            "local all postgres peer\n"
            f"hostssl all all {self.host}/32 scram-sha-256\n"
            "hostssl all all 0.0.0.0/0 scram-sha-256\n"
            "host all all 0.0.0.0/0 reject\n"
        )
        self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-l",
                          str(self.folder / "server.log"), "-w", "start")  # fmt: skip
        self.psql(f"CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{self.admin_password}'")
        self.psql(f"CREATE DATABASE {DATABASE} OWNER {ADMIN}")
        return self

    def psql(self, sql: str) -> str:
        done = self._as_postgres(_bin("psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                                 "-U", "postgres", "-d", "postgres", "-XAtq",
                                 "-v", "ON_ERROR_STOP=1", "-c", sql)  # fmt: skip
        return done.stdout.strip()

    def url(self, host: str | None = None, *, sslmode: str = "verify-full",
            ca: Path | None = None) -> str:  # fmt: skip
        """The operator's URL (the admin role), verifying the server's certificate."""
        return (
            f"postgresql://{ADMIN}:{quote(self.admin_password)}@{host or self._names[0]}:"
            f"{self.port}/{DATABASE}?sslmode={sslmode}&sslrootcert={ca or self.certs.ca}"
        )

    def stop(self) -> None:
        self._as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop",
                          check=False)  # fmt: skip
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
