"""Signing keys: files, permissions and the allowed-signers line."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from ainarres.errors import AinarresError
from ainarres.git.keys import allowed_signers_line, generate_signing_key, load_signing_key


def test_generate_writes_private_key_0600_in_a_0700_folder(tmp_path: Path) -> None:
    key = generate_signing_key(tmp_path / "keys" / "id", "alice@example.test")
    assert stat.S_IMODE(key.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.private_key.parent.stat().st_mode) == 0o700
    assert key.public_key.startswith("ssh-ed25519 ")
    assert key.public_key == key.public_key_path.read_text().strip()
    assert key.principal == "alice@example.test"


def test_allowed_signers_line_names_principal_namespace_and_key(tmp_path: Path) -> None:
    key = generate_signing_key(tmp_path / "id", "alice@example.test")
    keytype, blob = key.public_key.split()[:2]
    assert allowed_signers_line(key) == f'alice@example.test namespaces="git" {keytype} {blob}'


def test_allowed_signers_line_verifies_a_real_signature(tmp_path: Path) -> None:
    # The line must be one ssh-keygen accepts, not just one that looks right.
    key = generate_signing_key(tmp_path / "id", "alice@example.test")
    signers = tmp_path / "allowed"
    signers.write_text(allowed_signers_line(key) + "\n")
    message = tmp_path / "msg"
    message.write_text("hello\n")
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(key.private_key), str(message)],
        check=True,
        capture_output=True,
    )
    verify = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-n", "git", "-f", str(signers), "-I"]
        + ["alice@example.test", "-s", f"{message}.sig"],
        input=message.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr


def test_passphrase_protects_the_key(tmp_path: Path) -> None:
    key = generate_signing_key(tmp_path / "id", "alice@example.test", passphrase="s3cret pass")
    wrong = subprocess.run(
        ["ssh-keygen", "-y", "-P", "wrong", "-f", str(key.private_key)],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    right = subprocess.run(
        ["ssh-keygen", "-y", "-P", "s3cret pass", "-f", str(key.private_key)],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert wrong.returncode != 0
    assert right.returncode == 0


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    first = generate_signing_key(tmp_path / "id", "alice@example.test")
    with pytest.raises(AinarresError, match="already exists"):
        generate_signing_key(tmp_path / "id", "bob@example.test")
    assert load_signing_key(tmp_path / "id", "alice@example.test").public_key == first.public_key


@pytest.mark.parametrize("principal", ["", "two words", 'quote"d', "a,b", "-leading-dash"])
def test_principals_that_would_corrupt_allowed_signers_are_refused(
    tmp_path: Path, principal: str
) -> None:
    with pytest.raises(AinarresError) as err:
        generate_signing_key(tmp_path / "id", principal)
    assert err.value.exit_code == 2
    assert not (tmp_path / "id").exists()
