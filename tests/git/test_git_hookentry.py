"""The pre-receive entry point, called in-process (the real pushes are in test_git_gate.py)."""

from __future__ import annotations

import io
from pathlib import Path

from ainarres.git import nonces
from ainarres.git.hookentry import run_pre_receive
from ainarres.git.hub import Hub
from ainarres.git.pushcert import RefUpdate

ZERO = "0" * 40
B = "b" * 40


def test_task_push_is_accepted_silently(hub: Hub) -> None:
    err = io.StringIO()
    code = run_pre_receive(io.StringIO(f"{ZERO} {B} refs/heads/task/x\n"), {}, hub.path, err)
    assert (code, err.getvalue()) == (0, "")


def test_each_refused_ref_gets_one_line(hub: Hub) -> None:
    stdin = io.StringIO(f"{ZERO} {B} refs/heads/a\n{ZERO} {B} refs/heads/task/x\n{ZERO} {B} b\n")
    err = io.StringIO()
    assert run_pre_receive(stdin, {}, hub.path, err) == 1
    lines = err.getvalue().splitlines()
    assert [line.split(":")[1] for line in lines] == [" refused refs/heads/a", " refused b"]


def test_malformed_input_fails_closed(hub: Hub) -> None:
    err = io.StringIO()
    assert run_pre_receive(io.StringIO("not a ref update\n"), {}, hub.path, err) == 1
    assert err.getvalue().startswith("ainarres gate: refused the push: internal error (")


def test_unknown_object_fails_closed(hub: Hub) -> None:
    # The ancestry check cannot run on objects the hub does not have: refuse, do not guess.
    env = {"GIT_PUSH_CERT": "c" * 40, "GIT_PUSH_CERT_STATUS": "G"}
    err = io.StringIO()
    code = run_pre_receive(io.StringIO(f"{'a' * 40} {B} refs/heads/main\n"), env, hub.path, err)
    assert code == 1
    assert "internal error (git merge-base failed" in err.getvalue()


def test_nonce_ledger_reports_reuse_and_forgets_old_nonces(tmp_path: Path) -> None:
    (tmp_path / "ainarres").mkdir()
    now = 1_700_000_000.0
    first = nonces.ledger_entry("1700000000-aa", [RefUpdate("a" * 40, B, "refs/heads/main")])
    other = nonces.ledger_entry("1700000000-bb", [RefUpdate("a" * 40, B, "refs/heads/main")])
    assert not nonces.check_and_record(tmp_path, first, now)
    assert nonces.check_and_record(tmp_path, first, now)
    assert not nonces.check_and_record(tmp_path, other, now)
    later = now + nonces.KEEP_SECONDS + 1
    assert not nonces.check_and_record(tmp_path, first, later)
    ledger = (tmp_path / "ainarres" / nonces.LEDGER).read_text().splitlines()
    assert ledger == [first]


def test_same_nonce_with_other_updates_is_a_different_push() -> None:
    # Two pushes to the same hub path within one second are issued the same nonce.
    nonce = "1700000000-aa"
    one = nonces.ledger_entry(nonce, [RefUpdate("a" * 40, B, "refs/heads/main")])
    two = nonces.ledger_entry(nonce, [RefUpdate(B, "c" * 40, "refs/heads/main")])
    assert one != two
    assert one.startswith(nonce + " ")
