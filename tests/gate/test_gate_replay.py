"""Replaying a captured push certificate must not move main.

The certificate is captured as an eavesdropper or a compromised mirror could get it (a
post-receive hook saving the blob) and sent back verbatim by a hand-written client.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import pytest
from boardenv import BoardEnv
from gitwire import empty_pack, pack_between, push_with_cert, replay_push_cert, sign_certificate
from scenario import INTEGRATOR, INTEGRATOR_PASSPHRASE, MAIN, SANDBOX, Project, make_project
from test_gate_resident import Gate

from ainarres import project

REFUSED = "ainarres gate: refused refs/heads/main: "


def capture_certificates(hub: Path, into: Path) -> None:
    hook = hub / "hooks" / "post-receive"
    hook.write_text(f'#!/bin/sh\ngit cat-file blob "$GIT_PUSH_CERT" > {shlex.quote(str(into))}\n')
    hook.chmod(0o755)


def cert_nonce(cert: bytes) -> str:
    for line in cert.decode().splitlines():
        if line.startswith("nonce "):
            return line.removeprefix("nonce ")
    raise AssertionError("certificate without a nonce")


def _fresh_second() -> None:
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.005)


def _merged(proj: Project, name: str) -> tuple[str, str]:
    """An approved task merged onto main, not pushed yet: main's (old, new)."""
    task, head, _ = proj.approved_task(name)
    old = proj.hub_ref(MAIN)
    assert old is not None
    return old, proj.merge_commit(head, task)


def _ship(proj: Project, merge: str) -> None:
    result = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert result.ok, result.remote_lines


def _integrate(proj: Project, name: str) -> tuple[str, str]:
    """Ship one approved task by hand; returns main's (old, new)."""
    old, merge = _merged(proj, name)
    _ship(proj, merge)
    return old, merge


def test_replay_to_another_hub_is_refused_by_the_nonce(board: BoardEnv, tmp_path: Path) -> None:
    proj = make_project(board, tmp_path / "one")
    cert_file = tmp_path / "captured.cert"
    capture_certificates(proj.hub, cert_file)
    old, new = _integrate(proj, "f.txt")
    # A twin hub of the same board: same main, same signers; only its nonce seed differs.
    with board.operator() as conn:
        twin = project.init_hub(conn, board.settings, SANDBOX, tmp_path / "twin.git")
    # Give the twin the very same old main (a fetch runs no receive hooks).
    subprocess.run(
        ["git", "fetch", "--quiet", str(proj.hub), f"+{old}:{MAIN}"], cwd=twin, check=True
    )
    assert Project(board, twin, proj.clone).hub_ref(MAIN) == old
    wire = replay_push_cert(twin, cert_file.read_bytes(), pack_between(proj.clone, old, new))
    assert b"ng refs/heads/main pre-receive hook declined" in wire.report
    assert wire.advertised_nonce != cert_nonce(cert_file.read_bytes())
    assert wire.stderr.splitlines() == [
        REFUSED + "push certificate nonce status is BAD (replayed or stale certificate); "
        "push again so that the certificate signs the nonce this hub just issued"
    ]
    assert Project(board, twin, proj.clone).hub_ref(MAIN) == old


def test_replay_to_the_same_hub_is_refused(proj: Project, tmp_path: Path) -> None:
    """Within one second git issues the same nonce again, so only the gate's ledger can
    tell a replay; in a later second git itself says BAD. Retries until the same-second
    case happens once."""
    cert_file = tmp_path / "captured.cert"
    capture_certificates(proj.hub, cert_file)
    # The push and the replay must fall in one second: everything slow happens before the
    # second starts, and the resident gate judges the push (a Python hook that imports
    # psycopg can take most of a second on a loaded machine).
    gate = Gate(proj.hub)
    try:
        for attempt in range(12):
            old, new = _merged(proj, f"attempt{attempt}.txt")
            _fresh_second()
            _ship(proj, new)
            if _replayed_in_the_same_second(proj, cert_file, old, new):
                return
    finally:
        gate.stop()
    pytest.skip("the machine was too slow to replay within the same second")


def _replayed_in_the_same_second(proj: Project, cert_file: Path, old: str, new: str) -> bool:
    """Replay the captured certificate of main's move old -> new, main rolled back; True
    when git issued the same nonce again (so only the gate's ledger could refuse it)."""
    # Roll main back, as a restore from backup would: the replay would move it again.
    subprocess.run(["git", "update-ref", MAIN, old, new], cwd=proj.hub, check=True)
    cert = cert_file.read_bytes()
    wire = replay_push_cert(proj.hub, cert, empty_pack())
    assert b"ng refs/heads/main pre-receive hook declined" in wire.report
    assert proj.hub_ref(MAIN) == old
    subprocess.run(["git", "update-ref", MAIN, new, old], cwd=proj.hub, check=True)
    if wire.advertised_nonce == cert_nonce(cert):
        assert wire.stderr.splitlines() == [
            REFUSED + f"push certificate with nonce {cert_nonce(cert)} was already used "
            "(replayed certificate); push again so that the certificate signs a fresh nonce"
        ]
        return True
    assert "nonce status is BAD" in wire.stderr
    return False


def test_replay_control_a_fresh_certificate_through_the_same_client_moves_main(
    proj: Project,
) -> None:
    """The hand-written client works: signed over the nonce just issued, it moves main. So
    the refusals above come from the replay, not from a malformed request."""
    task, head, _ = proj.approved_task("c.txt")
    old = proj.hub_ref(MAIN)
    assert old is not None
    new = proj.merge_commit(head, task)
    key = project.family_key(proj.board.settings, INTEGRATOR)

    def fresh(nonce: str) -> bytes:
        body = (
            f"certificate version 0.1\npusher {key.principal} {int(time.time())} +0000\n"
            f"pushee {proj.hub}\nnonce {nonce}\n\n{old} {new} {MAIN}\n"
        )
        return sign_certificate(body, key.private_key, INTEGRATOR_PASSPHRASE)

    wire = push_with_cert(proj.hub, fresh, pack_between(proj.clone, old, new))
    assert wire.stderr == ""
    assert b"ok refs/heads/main" in wire.report
    assert proj.hub_ref(MAIN) == new


def test_replay_two_honest_pushes_in_one_second_both_pass(proj: Project) -> None:
    first, second = proj.approved_task("one.txt"), proj.approved_task("two.txt")
    m1 = proj.merge_commit(first[1], first[0])
    m2 = proj.merge_commit(second[1], second[0], onto=m1)
    _fresh_second()
    assert proj.push(f"{m1}:{MAIN}", INTEGRATOR).ok
    assert proj.push(f"{m2}:{MAIN}", INTEGRATOR).ok
    assert proj.hub_ref(MAIN) == m2
