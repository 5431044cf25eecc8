"""The pre-receive entry point, called in-process (real pushes are in tests/gate/)."""

from __future__ import annotations

import io
from pathlib import Path

from ainarres.gate.hook import run_pre_receive
from ainarres.git import nonces
from ainarres.git.hub import Hub

ZERO = "0" * 40
B = "b" * 40


def test_unbound_hub_refuses_every_ref_one_line_each(hub: Hub) -> None:
    stdin = io.StringIO(f"{ZERO} {B} refs/heads/a\n{ZERO} {B} refs/heads/task/x\n{ZERO} {B} b\n")
    err = io.StringIO()
    assert run_pre_receive(stdin, {}, hub.path, err) == 1
    lines = err.getvalue().splitlines()
    assert [line.split(":")[1] for line in lines] == [
        " refused refs/heads/a",
        " refused refs/heads/task/x",
        " refused b",
    ]
    assert all("this hub is not bound to a board" in line for line in lines)


def test_malformed_input_fails_closed(hub: Hub) -> None:
    err = io.StringIO()
    assert run_pre_receive(io.StringIO("not a ref update\n"), {}, hub.path, err) == 1
    assert err.getvalue().startswith("ainarres gate: refused the push: internal error (")


def test_unknown_object_fails_closed(hub: Hub) -> None:
    # The ancestry check cannot run on objects the hub does not have: refuse, do not guess.
    env = {"GIT_PUSH_CERT": "c" * 40, "GIT_PUSH_CERT_STATUS": "G"}
    (hub.path / "ainarres" / "board.json").write_text("{}")  # bound, as far as git goes
    err = io.StringIO()
    code = run_pre_receive(io.StringIO(f"{'a' * 40} {B} refs/heads/main\n"), env, hub.path, err)
    assert code == 1
    assert "internal error (git merge-base failed" in err.getvalue()


def test_nonce_ledger_reports_reuse_and_forgets_old_nonces(tmp_path: Path) -> None:
    (tmp_path / "ainarres").mkdir()
    now = 1_700_000_000.0
    first = nonces.ledger_entry("1700000000-aa", "c" * 40)
    other = nonces.ledger_entry("1700000000-bb", "c" * 40)
    assert not nonces.check_and_record(tmp_path, first, now)
    assert nonces.check_and_record(tmp_path, first, now)
    assert not nonces.check_and_record(tmp_path, other, now)
    later = now + nonces.KEEP_SECONDS + 1
    assert not nonces.check_and_record(tmp_path, first, later)
    ledger = (tmp_path / "ainarres" / nonces.LEDGER).read_text().splitlines()
    assert ledger == [first]


def test_same_nonce_with_another_certificate_is_a_different_push() -> None:
    # Two pushes to the same hub path within one second are issued the same nonce; their
    # certificates differ (other updates or push options), so their blob ids differ.
    nonce = "1700000000-aa"
    one = nonces.ledger_entry(nonce, "c" * 40)
    two = nonces.ledger_entry(nonce, "d" * 40)
    assert one != two
    assert one.startswith(nonce + " ")
