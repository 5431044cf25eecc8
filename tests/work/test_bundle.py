"""`ainarres family export` and `ainarres join`: one file joins a machine as one family.

The test board listens on a Unix socket only (the embedded server has no TCP listener), so
each test that needs a board other machines could reach puts a TCP forwarder in front of it
on this machine's own non-loopback address: libpq on the "agent's machine" speaks TCP to
that address, the forwarder hands the bytes to the board's socket, and the board checks the
family's password (scram) as for any client. Everything runs as the real `ainarres` command
in a subprocess; the operator's state directory and the joined one are different folders.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boardenv import BoardEnv

from ainarres import project
from ainarres.credentials import read_credential
from ainarres.store import Store

REVIEWER = "grok+grok-build"
IMPLEMENTER = "opencode+qwen"
INTEGRATOR = "person+integrator"
HUB = "ssh://hub@hub.example.test/srv/project.git"
PASSPHRASE = "a bundle's own passphrase"


# -- a board other machines could reach -------------------------------------------------


def _outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (None: there is none)."""
    try:
        done = subprocess.run(
            ["ip", "-j", "-4", "addr", "show", "scope", "global", "up"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        for iface in json.loads(done.stdout or "[]"):
            for addr in iface.get("addr_info", []):
                if addr.get("local"):
                    return str(addr["local"])
    except (OSError, ValueError):
        pass
    try:
        _, _, found = socket.gethostbyname_ex(socket.gethostname())
    except OSError:
        return None
    return next((a for a in found if not a.startswith("127.")), None)


class Forwarder:
    """TCP on ``host`` (connections from this machine only) to the board's Unix socket."""

    def __init__(self, host: str, target: Path) -> None:
        self.host, self.target = host, target
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.accepted = 0
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if peer[0] != self.host:  # only this machine's own address reaches the board
                client.close()
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(str(self.target))
            self.accepted += 1
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def tcp(board: BoardEnv) -> Iterator[Forwarder]:
    host = _outside_address()
    if host is None:
        pytest.skip(
            "this machine has no non-loopback address: a bundle's board must be one that "
            "other machines reach, so the round trip needs one"
        )
    forwarder = Forwarder(host, board.cluster.server.socket_dir / ".s.PGSQL.5432")
    yield forwarder
    forwarder.close()


def _board_url(board: BoardEnv, tcp: Forwarder, query: str = "sslmode=prefer") -> str:
    return f"postgresql://{tcp.host}:{tcp.port}/{board.dbname}?{query}"


# -- helpers --------------------------------------------------------------------------------


def ainarres(
    home: Path,
    *args: str,
    url: str | None = None,
    env: dict[str, str] | None = None,
    umask: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real CLI with state directory ``home`` (and a board URL when given), no
    terminal, none of the test runner's AINARRES_* or PG* settings."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AINARRES_"))}
    full["AINARRES_HOME"] = str(home)
    if url is not None:
        full["AINARRES_DATABASE_URL"] = url
    full.update(env or {})
    argv = [sys.executable, "-m", "ainarres", *args]
    if umask is not None:
        argv = ["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, env=full, timeout=120, stdin=subprocess.DEVNULL
    )


def operator(board: BoardEnv, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return ainarres(board.settings.state_dir, *args, url=kw.pop("url", board.url), **kw)


@pytest.fixture
def families(board: BoardEnv) -> BoardEnv:
    """A reviewer and an implementer of other makers, and a person's integrator, each with
    a signing key (the integrator's passphrase-protected), on the operator's machine."""
    board.add_family(REVIEWER, "reviewer")
    board.add_family(IMPLEMENTER, "implementer")
    board.add_family(INTEGRATOR, "integrator")
    for name in (REVIEWER, IMPLEMENTER):
        project.ensure_family_key(board.settings, name)
    project.ensure_family_key(board.settings, INTEGRATOR, "the integrator's passphrase")
    return board


def host_keys(tmp_path: Path) -> Path:
    """A hub server's host key, as `ssh-keyscan` prints it."""
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    path = tmp_path / "known_hosts"
    pub = " ".join((tmp_path / "hostkey.pub").read_text().split()[:2])
    path.write_text(f"# hub.example.test:22 SSH-2.0-OpenSSH\nhub.example.test {pub}\n")
    return path


def ca_file(tmp_path: Path) -> Path:
    """A self-signed CA certificate in PEM, as a server PostgreSQL's sslrootcert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ainarres test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "root.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def tree(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its mode."""
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))
    }


def secrets_of(board: BoardEnv, *families: str) -> list[str]:
    """The operator's password and the passwords and private keys of ``families``."""
    out = [board.cluster.operator.password]
    for name in families:
        out.append(
            read_credential(Store(board.settings.state_dir).family_credential(name), name).password
        )
        out.append(project.key_path(board.settings, name).read_text())
    return out


def export(board: BoardEnv, tcp: Forwarder, dest: Path, family: str = REVIEWER, *more: str) -> Path:
    done = operator(
        board,
        "family",
        "export",
        family,
        "--to",
        str(dest),
        "--board-url",
        _board_url(board, tcp),
        "--hub",
        HUB,
        *more,
    )
    assert done.returncode == 0, done.stderr
    return dest


def rewrite(path: Path, change: Any) -> None:
    """Change the bundle in ``path`` with ``change(bundle)`` and give it a correct digest
    again: what someone who edits a bundle on purpose does."""
    data = json.loads(path.read_text())
    change(data["bundle"])
    canonical = json.dumps(
        data["bundle"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    data["digest"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(json.dumps(data))


# -- the tests --------------------------------------------------------------------------------


def test_export_then_join_gives_a_machine_that_logs_in_as_that_family_and_nothing_else(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    ca = ca_file(tmp_path)
    bundle = tmp_path / "out" / "reviewer.bundle"
    bundle.parent.mkdir()
    bundle.parent.chmod(0o755)
    before = board.snapshot()
    made = operator(
        board,
        "family",
        "export",
        REVIEWER,
        "--to",
        str(bundle),
        "--json",
        "--board-url",
        _board_url(board, tcp, f"sslmode=prefer&sslrootcert={ca}"),
        "--hub",
        HUB,
        "--hub-host-key-file",
        str(host_keys(tmp_path)),
        umask=0,
    )
    assert made.returncode == 0, made.stderr
    said = json.loads(made.stdout)
    assert said["board"] == {
        "host": tcp.host,
        "port": str(tcp.port),
        "dbname": board.dbname,
        "sslmode": "prefer",
        "user": said["board"]["user"],
        "ca": True,
    }
    assert said["hub"] == HUB and said["hub_host_keys"] == 1 and said["sealed"] is False
    # 0600 even under umask 000, and its folder left as it was.
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.parent.stat().st_mode) == 0o755
    assert list(bundle.parent.iterdir()) == [bundle]  # no temporary file left
    text = bundle.read_text()
    assert (
        read_credential(
            board.settings.state_dir / "credentials/families" / f"{REVIEWER}.json", REVIEWER
        ).password
        in text
    )
    for secret in secrets_of(board, IMPLEMENTER, INTEGRATOR):  # the operator's, the others'
        assert secret not in text
    assert "application_name" not in text and "user=" not in text

    agent = tmp_path / "agent-machine" / ".ainarres"
    joined = ainarres(agent, "join", str(bundle), "--json")
    assert joined.returncode == 0, joined.stderr
    got = json.loads(joined.stdout)
    assert got["login"] == "ok" and got["family"] == REVIEWER and got["hub"] == HUB
    assert got["key_fingerprint"] == said["key_fingerprint"] and not got["key_protected"]
    key, cred = f"credentials/keys/{REVIEWER}/id_ed25519", f"credentials/families/{REVIEWER}"
    assert tree(agent) == {
        ".gitignore": 0o600,
        "credentials": 0o700,
        "credentials/families": 0o700,
        f"{cred}.json": 0o600,
        f"{cred}.ca.pem": 0o600,
        "credentials/keys": 0o700,
        f"credentials/keys/{REVIEWER}": 0o700,
        key: 0o600,
        f"{key}.pub": 0o600,
        "hub.json": 0o600,
        "board.json": 0o600,
        "known_hosts": 0o600,
    }
    assert stat.S_IMODE(agent.stat().st_mode) == 0o700
    assert (agent / key).read_bytes() == project.key_path(board.settings, REVIEWER).read_bytes()
    assert (agent / f"{cred}.ca.pem").read_bytes() == ca.read_bytes()
    stored = json.loads((agent / f"{cred}.json").read_text())
    assert (
        stored["database_url"]
        == got["database_url"]
        == (
            f"host={tcp.host} port={tcp.port} dbname={board.dbname} sslmode=prefer "
            f"sslrootcert={agent / cred}.ca.pem"
        )
    )
    assert "hub.example.test ssh-ed25519" in (agent / "known_hosts").read_text()
    assert board.snapshot() == before  # export and join's login change nothing on the board
    assert tcp.accepted >= 1  # join logged in over TCP

    # The joined machine finds its board in board.json: no URL to give, no password in it.
    assert json.loads((agent / "board.json").read_text()) == {"url": got["database_url"]}
    seen = tcp.accepted
    read = ainarres(agent, "board", "--family", REVIEWER, "--json")
    assert read.returncode == 0, read.stderr
    assert "stages" in json.loads(read.stdout)
    claim = ainarres(agent, "next", "--family", REVIEWER, "--json")
    assert claim.returncode == 5, claim.stderr  # logged in, asked, nothing to review
    assert tcp.accepted >= seen + 2
    hub = ainarres(agent, "hub", "show", "--json")
    assert hub.returncode == 0 and json.loads(hub.stdout)["url"] == HUB
    # Nobody else: not the operator, not another family.
    as_operator = ainarres(agent, "family", "list")
    assert as_operator.returncode == 4 and "password" in as_operator.stderr
    as_other = ainarres(agent, "board", "--family", IMPLEMENTER)
    assert as_other.returncode == 1 and "no credential for family" in as_other.stderr


def test_export_takes_the_address_from_the_operators_url_but_never_its_login(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    op = board.cluster.operator
    url = (
        f"host={tcp.host} port={tcp.port} dbname={board.dbname} user={op.user} "
        f"password={op.password} application_name=person sslmode=prefer"
    )
    dest = tmp_path / "b.json"
    done = operator(
        board, "family", "export", IMPLEMENTER, "--to", str(dest), "--hub", HUB, "--json", url=url
    )
    assert done.returncode == 0, done.stderr
    warnings = json.loads(done.stdout)["warnings"]
    assert len(warnings) == 1 and "sslmode=prefer" in warnings[0]  # said, not refused
    text = dest.read_text()
    address = json.loads(text)["bundle"]["board"]["address"]
    assert address == {
        "host": tcp.host,
        "port": str(tcp.port),
        "dbname": board.dbname,
        "sslmode": "prefer",
    }
    assert op.password not in text and "person" not in text


def test_a_sealed_bundle_opens_with_its_passphrase_only(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text(PASSPHRASE + "\n")
    wrong.write_text("not it\n")
    dest = tmp_path / "sealed.bundle"
    made = operator(
        board,
        "family",
        "export",
        REVIEWER,
        "--to",
        str(dest),
        "--board-url",
        _board_url(board, tcp),
        "--hub",
        HUB,
        "--seal",
        env={"AINARRES_BUNDLE_PASSPHRASE_FILE": str(good)},
    )
    assert made.returncode == 0, made.stderr
    text = dest.read_text()
    assert set(json.loads(text)) == {"format", "version", "sealed", "salt"}
    for secret in secrets_of(board, REVIEWER):
        assert secret not in text
    assert "PRIVATE KEY" not in text and tcp.host not in text

    agent = tmp_path / "agent" / ".ainarres"
    for env, why in (
        (
            {},
            "sealed under a passphrase: run join on a terminal, or set "
            "AINARRES_BUNDLE_PASSPHRASE_FILE",
        ),
        ({"AINARRES_BUNDLE_PASSPHRASE_FILE": str(wrong)}, "wrong passphrase"),
        # The operator credential's passphrase file is not the bundle's.
        ({"AINARRES_OPERATOR_PASSPHRASE_FILE": str(good)}, "sealed under a passphrase"),
    ):
        refused = ainarres(agent, "join", str(dest), env=env)
        assert refused.returncode == 2, refused.stderr
        assert why in refused.stderr
        assert not agent.parent.exists()  # nothing written, not even the state directory
    joined = ainarres(
        agent, "join", str(dest), "--json", env={"AINARRES_BUNDLE_PASSPHRASE_FILE": str(good)}
    )
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["login"] == "ok"


def _altered(board: BoardEnv, tmp_path: Path, plain: Path) -> list[tuple[str, Path, str]]:
    """Bundles damaged by accident or changed on purpose, and what join says of each."""
    out: list[tuple[str, Path, str]] = []

    def made(name: str, text: str, why: str) -> None:
        path = tmp_path / name
        path.write_text(text)
        out.append((name, path, why))

    raw = plain.read_text()
    made("truncated", raw[: len(raw) // 2], "not whole JSON")
    data = json.loads(raw)
    password = data["bundle"]["board"]["password"]
    made(
        "one-character",
        raw.replace(password, password[:-1] + ("A" if password[-1] != "A" else "B")),
        "does not match its digest",
    )
    other_pub = project.key_path(board.settings, IMPLEMENTER).with_suffix(".pub").read_text()

    def edits() -> list[tuple[str, Any, str]]:
        def key(b: Any) -> None:
            b["key"]["public"] = other_pub

        def logfile(b: Any) -> None:
            b["board"]["address"]["sslkeylogfile"] = "/tmp/keys"

        def loopback(b: Any) -> None:
            b["board"]["address"]["host"] = "127.0.0.1"

        def path(b: Any) -> None:
            b["family"] = "../../credentials/operator"

        def local_hub(b: Any) -> None:
            b["hub"]["url"] = "/srv/project.git"

        def extra(b: Any) -> None:
            b["operator"] = {"password": "x"}

        return [
            ("other-key", key, "public half does not match its private half"),
            ("keylog", logfile, "'sslkeylogfile', which a bundle never carries"),
            ("loopback", loopback, "loopback"),
            ("path-name", path, "is not valid"),
            ("local-hub", local_hub, "is a folder"),
            ("extra-field", extra, "operator: Extra inputs are not permitted"),
        ]

    for name, change, why in edits():
        path = tmp_path / name
        path.write_text(raw)
        rewrite(path, change)
        out.append((name, path, why))
    link = tmp_path / "symlink"
    link.symlink_to(plain)
    out.append(("symlink", link, "cannot be read"))
    return out


def test_a_damaged_or_altered_bundle_is_refused_and_nothing_is_written(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    plain = export(board, tcp, tmp_path / "plain.bundle")
    cases = _altered(board, tmp_path, plain)
    good = tmp_path / "good"
    good.write_text(PASSPHRASE)
    sealed = tmp_path / "sealed.bundle"
    made = operator(
        board,
        "family",
        "export",
        REVIEWER,
        "--to",
        str(sealed),
        "--seal",
        "--board-url",
        _board_url(board, tcp),
        "--hub",
        HUB,
        env={"AINARRES_BUNDLE_PASSPHRASE_FILE": str(good)},
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(sealed.read_text())
    token = data["sealed"]
    middle = len(token) // 2
    data["sealed"] = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    flipped = tmp_path / "sealed-flipped"
    flipped.write_text(json.dumps(data))
    cases.append(("sealed-flipped", flipped, "or the bundle was altered"))

    for name, path, why in cases:
        agent = tmp_path / f"agent-{name}" / ".ainarres"
        refused = ainarres(
            agent, "join", str(path), env={"AINARRES_BUNDLE_PASSPHRASE_FILE": str(good)}
        )
        assert refused.returncode == 2, (name, refused.stderr)
        assert why in refused.stderr, (name, refused.stderr)
        assert not agent.parent.exists(), name
    # The untouched bundle joins: the refusals were about the changes.
    agent = tmp_path / "agent-plain" / ".ainarres"
    assert ainarres(agent, "join", str(plain)).returncode == 0


def test_export_refuses_what_would_not_work_on_another_machine(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    dest = tmp_path / "b.json"
    url = _board_url(board, tcp)
    key_as_ca = tmp_path / "ca-and-key.pem"  # a certificate, and a private key with it
    key_as_ca.write_text(ca_file(tmp_path).read_text() + (tmp_path / "root.key").read_text())
    local = tmp_path / "hub.git"
    before = board.snapshot()
    for args, kw, why in (
        ([INTEGRATOR, "--board-url", url, "--hub", HUB], {}, "holds the integrator grant"),
        ([REVIEWER, "--hub", HUB], {}, "over a Unix socket"),  # the test board's own socket
        ([REVIEWER, "--hub", HUB], {"url": None}, "server PostgreSQL"),  # embedded
        (
            [REVIEWER, "--board-url", f"postgresql://127.0.0.1:{tcp.port}/x", "--hub", HUB],
            {},
            "loopback",
        ),
        ([REVIEWER, "--board-url", "postgresql://localhost/x", "--hub", HUB], {}, "loopback"),
        ([REVIEWER, "--board-url", "postgresql://[::1]:5432/x", "--hub", HUB], {}, "loopback"),
        (
            [REVIEWER, "--board-url", f"postgresql://u:p@{tcp.host}/x", "--hub", HUB],
            {},
            "names a login",
        ),
        (
            [REVIEWER, "--board-url", f"postgresql://{tcp.host}/x?passfile=/p", "--hub", HUB],
            {},
            "sets passfile",
        ),
        (
            [REVIEWER, "--board-url", f"{url}&sslrootcert={key_as_ca}", "--hub", HUB],
            {},
            "never a key",
        ),
        ([REVIEWER, "--board-url", url, "--hub", str(local)], {}, "is a folder on this machine"),
        (
            [
                REVIEWER,
                "--board-url",
                url,
                "--hub",
                "https://hub.example.test/p.git",
                "--hub-host-key-file",
                str(host_keys(tmp_path)),
            ],
            {},
            "not one",
        ),
        (
            [REVIEWER, "--board-url", url, "--hub", HUB, "--seal"],
            {},
            "no terminal to ask for the passphrase; set AINARRES_BUNDLE_PASSPHRASE_FILE",
        ),
        (["no-such-family", "--board-url", url, "--hub", HUB], {}, "no family"),
    ):
        refused = operator(board, "family", "export", *args, "--to", str(dest), **kw)
        assert refused.returncode == (1 if why == "no family" else 2), (why, refused.stderr)
        assert why in refused.stderr, (why, refused.stderr)
        assert not dest.exists(), why
    # A hub that is a folder here is not exported by default either.
    project.record_hub(board.settings, str(local))
    refused = operator(board, "family", "export", REVIEWER, "--board-url", url, "--to", str(dest))
    assert refused.returncode == 2 and "is a folder on this machine" in refused.stderr
    assert board.snapshot() == before

    dest.write_text("someone's file\n")
    kept = operator(
        board, "family", "export", REVIEWER, "--board-url", url, "--hub", HUB, "--to", str(dest)
    )
    assert kept.returncode == 2 and "already exists" in kept.stderr
    assert dest.read_text() == "someone's file\n"
    replaced = operator(
        board,
        "family",
        "export",
        REVIEWER,
        "--board-url",
        url,
        "--hub",
        HUB,
        "--to",
        str(dest),
        "--force",
    )
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(dest.read_text())["bundle"]["family"] == REVIEWER
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_join_keeps_what_is_there_unless_forced(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    plain = export(board, tcp, tmp_path / "plain.bundle")
    agent = tmp_path / "agent" / ".ainarres"
    assert ainarres(agent, "join", str(plain)).returncode == 0
    key = Store(agent).family_key(REVIEWER)
    key.write_text("a key someone put here\n")
    again = ainarres(agent, "join", str(plain))
    assert again.returncode == 2 and "already set up here" in again.stderr
    assert key.read_text() == "a key someone put here\n"
    forced = ainarres(agent, "join", str(plain), "--force")
    assert forced.returncode == 0, forced.stderr
    assert key.read_bytes() == project.key_path(board.settings, REVIEWER).read_bytes()
    # A family of another project (another hub) does not join this state directory...
    other = export(board, tcp, tmp_path / "impl.bundle", IMPLEMENTER)
    rewrite(other, lambda b: b["hub"].update(url="ssh://elsewhere.test/p.git"))
    elsewhere = ainarres(agent, "join", str(other))
    assert elsewhere.returncode == 2 and f"uses the hub {HUB}" in elsewhere.stderr
    assert not Store(agent).family_credential(IMPLEMENTER).exists()
    assert json.loads(Store(agent).hub_record.read_text())["url"] == HUB
    # ... another family of the same project joins beside the first.
    same = export(board, tcp, tmp_path / "impl2.bundle", IMPLEMENTER)
    beside = ainarres(agent, "join", str(same), "--json")
    assert beside.returncode == 0, beside.stderr
    assert json.loads(beside.stdout)["login"] == "ok"
    assert Store(agent).family_credential(REVIEWER).exists()


def test_join_of_a_board_it_cannot_reach_exits_4_and_keeps_the_joined_files(
    families: BoardEnv, tcp: Forwarder, tmp_path: Path
) -> None:
    board = families
    closed = socket.create_server((tcp.host, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    dest = tmp_path / "b.json"
    made = operator(
        board,
        "family",
        "export",
        REVIEWER,
        "--to",
        str(dest),
        "--hub",
        HUB,
        "--board-url",
        f"postgresql://{tcp.host}:{port}/{board.dbname}",
    )
    assert made.returncode == 0, made.stderr
    agent = tmp_path / "agent" / ".ainarres"
    joined = ainarres(agent, "join", str(dest), "--json")
    assert joined.returncode == 4, joined.stderr
    assert "joined, but cannot log in as grok+grok-build" in joined.stderr
    assert "joined files stay" in joined.stderr
    assert "cannot connect" in json.loads(joined.stdout)["login"]
    assert Store(agent).family_credential(REVIEWER).exists()
    assert Store(agent).family_key(REVIEWER).exists()
    # A server that takes the login but holds no board: the same, with what to do.
    made = operator(
        board,
        "family",
        "export",
        IMPLEMENTER,
        "--to",
        str(dest),
        "--force",
        "--hub",
        HUB,
        "--board-url",
        f"postgresql://{tcp.host}:{tcp.port}/postgres",
    )
    assert made.returncode == 0, made.stderr
    empty = ainarres(agent, "join", str(dest))
    assert empty.returncode == 4, empty.stderr
    assert "the board is not set up here" in empty.stderr and "joined files stay" in empty.stderr


def test_a_key_pair_is_read_from_its_header_and_must_fit_together(tmp_path: Path) -> None:
    from ainarres import bundle
    from ainarres.errors import BadInput

    def pair(name: str, *args: str) -> bundle.KeyPair:
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-C", name, "-f", str(path), *args], check=True)
        return bundle.KeyPair(
            private=path.read_text(), public=(tmp_path / f"{name}.pub").read_text()
        )

    def cut(private: str) -> str:
        """The same key file, its last 8 bytes gone (base64 still well formed)."""
        lines = private.strip().splitlines()
        blob = base64.b64decode("".join(lines[1:-1]))[:-8]
        text = base64.b64encode(blob).decode()
        body = "\n".join(text[i : i + 70] for i in range(0, len(text), 70))
        return f"{lines[0]}\n{body}\n{lines[-1]}\n"

    plain = pair("plain", "-t", "ed25519", "-N", "")
    locked = pair("locked", "-t", "ed25519", "-N", "a passphrase")
    assert bundle.key_protected(plain) is False and bundle.key_protected(locked) is True
    for wrong, why in (
        (bundle.KeyPair(private=plain.private, public=locked.public), "does not match"),
        (pair("rsa", "-t", "rsa", "-b", "2048", "-N", ""), "not an OpenSSH ed25519 key pair"),
        (bundle.KeyPair(private=cut(plain.private), public=plain.public), "not a whole"),
    ):
        with pytest.raises(BadInput, match=why):
            bundle.key_protected(wrong)
    # A value with a space or a quote stays one libpq value.
    info = bundle.conninfo({"dbname": "a b's", "host": "db.example", "port": "5432"})
    assert info == r"host=db.example port=5432 dbname='a b\'s'"
