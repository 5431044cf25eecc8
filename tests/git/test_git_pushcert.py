"""Parsing the pre-receive environment and input."""

from __future__ import annotations

import pytest

from ainarres.errors import AinarresError
from ainarres.git.pushcert import (
    PushCert,
    RefUpdate,
    is_zero_oid,
    parse_push_cert,
    parse_ref_update,
    parse_ref_updates,
)

A = "a" * 40
B = "b" * 40
ZERO = "0" * 40


def test_unsigned_push_has_no_certificate() -> None:
    assert parse_push_cert({"GIT_DIR": "."}) is None
    assert parse_push_cert({"GIT_PUSH_CERT": ""}) is None


def test_signed_push_certificate_fields() -> None:
    env = {
        "GIT_PUSH_CERT": "c" * 40,
        "GIT_PUSH_CERT_STATUS": "G",
        "GIT_PUSH_CERT_SIGNER": "integrator@hub.test",
        "GIT_PUSH_CERT_KEY": "SHA256:abc",
        "GIT_PUSH_CERT_NONCE_STATUS": "OK",
        "GIT_PUSH_CERT_NONCE": "1700000000-deadbeef",
        "GIT_PUSH_CERT_NONCE_SLOP": "-3",
    }
    assert parse_push_cert(env) == PushCert(
        status="G",
        signer="integrator@hub.test",
        key="SHA256:abc",
        nonce_status="OK",
        nonce="1700000000-deadbeef",
        cert_oid="c" * 40,
        nonce_slop=-3,
    )


def test_missing_certificate_details_become_empty_strings() -> None:
    cert = parse_push_cert({"GIT_PUSH_CERT": "c" * 40})
    assert cert is not None
    assert (cert.status, cert.signer, cert.nonce_status, cert.nonce_slop) == ("", "", "", None)
    assert cert.status_meaning == "unknown status"


def test_ref_update_lines() -> None:
    updates = parse_ref_updates(
        [f"{A} {B} refs/heads/main\n", "\n", f"{ZERO} {B} refs/heads/task/x\n", f"{A} {ZERO} t\n"]
    )
    assert updates == [
        RefUpdate(A, B, "refs/heads/main"),
        RefUpdate(ZERO, B, "refs/heads/task/x"),
        RefUpdate(A, ZERO, "t"),
    ]
    assert [(u.is_create, u.is_delete) for u in updates] == [
        (False, False),
        (True, False),
        (False, True),
    ]


def test_sha256_zero_oid() -> None:
    assert is_zero_oid("0" * 64)
    assert not is_zero_oid("")
    assert not is_zero_oid("0" * 39 + "1")


@pytest.mark.parametrize(
    "line",
    [
        f"{A} {B}",
        f"{A} {B} refs/heads/main extra",
        f"{A[:-1]} {B} refs/heads/main",
        f"{A.upper()} {B} refs/heads/main",
        f"{ZERO} {ZERO} refs/heads/main",
    ],
)
def test_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(AinarresError, match="pre-receive line"):
        parse_ref_update(line)
