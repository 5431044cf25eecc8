"""Replaying a captured push certificate must not move main.

The certificate is captured the way an eavesdropper or a compromised hub mirror could
get it (here: a post-receive hook that saves the certificate blob) and sent back
verbatim by a hand-written client (gitwire.py).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest
from githelpers import Keys, git_out, hub_ref, make_hub
from gitwire import empty_pack, pack_between, push_with_cert, replay_push_cert, sign_certificate

from ainarres.git.hub import Hub
from ainarres.git.push import push

MAIN = "refs/heads/main"
REFUSED = "ainarres gate: refused refs/heads/main: "


def capture_certificates(hub: Hub, into: Path) -> None:
    """Make the hub save the certificate of each accepted push to ``into``."""
    hook = hub.path / "hooks" / "post-receive"
    hook.write_text(f'#!/bin/sh\ngit cat-file blob "$GIT_PUSH_CERT" > {shlex.quote(str(into))}\n')
    hook.chmod(0o755)


def signed_push_of_main(hub: Hub, clone: Path, keys: Keys, cert_file: Path) -> tuple[str, str]:
    """Push the clone's HEAD to main, signed by the integrator; return (old, new) of main."""
    old = hub_ref(hub, MAIN)
    assert old is not None
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=True)
    assert result.ok, result.stderr
    assert cert_file.read_bytes().startswith(b"certificate version 0.1\n")
    return old, git_out(clone, "rev-parse", "HEAD")


def cert_nonce(cert: bytes) -> str:
    """The nonce header of a push certificate."""
    for line in cert.decode().splitlines():
        if line.startswith("nonce "):
            return line.removeprefix("nonce ")
    raise AssertionError("certificate without a nonce")


def test_certificate_replayed_to_another_hub_is_refused(
    hub: Hub, clone: Path, keys: Keys, tmp_path: Path
) -> None:
    cert_file = tmp_path / "captured.cert"
    capture_certificates(hub, cert_file)
    old, new = signed_push_of_main(hub, clone, keys, cert_file)
    # A twin hub: same main, same signers and integrators; only its seed and path differ.
    twin = make_hub(tmp_path / "twin.git", keys)
    assert hub_ref(twin, MAIN) == old
    wire = replay_push_cert(twin.path, cert_file.read_bytes(), pack_between(clone, old, new))
    assert b"ng refs/heads/main pre-receive hook declined" in wire.report
    assert wire.advertised_nonce != cert_nonce(cert_file.read_bytes())
    # Status G and the integrator signer passed; only the nonce gave the replay away.
    assert wire.stderr.splitlines() == [
        REFUSED + "push certificate nonce status is BAD (replayed or stale certificate); "
        "push again so that the certificate signs the nonce this hub just issued"
    ]
    assert hub_ref(twin, MAIN) == old


def _wait_for_a_fresh_second() -> None:
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.005)


def test_certificate_replayed_to_the_same_hub_is_refused(
    hub: Hub, clone: Path, keys: Keys, tmp_path: Path
) -> None:
    """git issues the same nonce to every connection to one path within one second, so
    a replay in that second passes git's own check; the gate's ledger must catch it.
    A replay in a later second is caught by git (nonce status BAD). Both are asserted;
    the test retries until the replay lands in the same second once."""
    cert_file = tmp_path / "captured.cert"
    capture_certificates(hub, cert_file)
    seen_same_second = seen_later_second = False
    for attempt in range(5):
        (clone / f"attempt{attempt}.txt").write_text(f"{attempt}\n")
        git_out(clone, "add", ".")
        git_out(clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"attempt {attempt}")
        _wait_for_a_fresh_second()
        old, new = signed_push_of_main(hub, clone, keys, cert_file)
        # Roll main back, as a restore from backup would: the replay would move it again.
        git_out(hub.path, "update-ref", MAIN, old, new)
        cert = cert_file.read_bytes()
        wire = replay_push_cert(hub.path, cert, empty_pack())
        assert b"ng refs/heads/main pre-receive hook declined" in wire.report
        assert hub_ref(hub, MAIN) == old
        if wire.advertised_nonce == cert_nonce(cert):
            assert wire.stderr.splitlines() == [
                REFUSED + f"push certificate with nonce {cert_nonce(cert)} was already used "
                "(replayed certificate); push again so that the certificate signs a fresh nonce"
            ]
            seen_same_second = True
            break
        assert "nonce status is BAD" in wire.stderr
        seen_later_second = True
        # Put main back where the clone expects it before the next attempt.
        git_out(hub.path, "update-ref", MAIN, new, old)
    if not seen_same_second:
        assert seen_later_second
        pytest.skip("the machine was too slow to replay within the same second")


def test_legitimate_pushes_in_the_same_second_both_pass(hub: Hub, clone: Path, keys: Keys) -> None:
    """The ledger keys on the nonce and the updates, so a second, different push that is
    issued the same nonce is not mistaken for a replay."""
    _wait_for_a_fresh_second()
    first = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=True)
    (clone / "second.txt").write_text("2\n")
    git_out(clone, "add", ".")
    git_out(clone, "commit", "--quiet", "--no-gpg-sign", "-m", "second")
    second = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=True)
    assert first.ok, first.stderr
    assert second.ok, second.stderr
    assert hub_ref(hub, MAIN) == git_out(clone, "rev-parse", "HEAD")


def test_control_a_fresh_certificate_through_the_same_client_is_accepted(
    hub: Hub, clone: Path, keys: Keys
) -> None:
    """The hand-written client is a working client: with a certificate freshly signed
    over the nonce just issued, it moves main. So the refusals above come from the
    replay, not from a malformed request."""
    old = hub_ref(hub, MAIN)
    assert old is not None
    new = git_out(clone, "rev-parse", "HEAD")

    def fresh(nonce: str) -> bytes:
        body = (
            "certificate version 0.1\n"
            f"pusher {keys.integrator.principal} {int(time.time())} +0000\n"
            f"pushee {hub.path}\n"
            f"nonce {nonce}\n\n"
            f"{old} {new} {MAIN}\n"
        )
        return sign_certificate(body, keys.integrator.private_key)

    wire = push_with_cert(hub.path, fresh, pack_between(clone, old, new))
    assert wire.stderr == ""
    assert b"ok refs/heads/main" in wire.report
    assert hub_ref(hub, MAIN) == new
