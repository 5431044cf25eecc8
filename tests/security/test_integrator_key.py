"""The integrator's key at rest: passphrase-protected; integrate cannot sign without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scenario import INTEGRATOR, MAIN, Project

from ainarres import project
from ainarres.git.keys import is_protected


def _integrate(proj: Project, env: dict[str, str]) -> tuple[int, str]:
    res = proj.board.run("integrate", "--family", INTEGRATOR, env=env)
    return res.returncode, res.stderr


def test_integrator_key_is_protected_and_integrate_needs_the_passphrase(
    proj: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AINARRES_PASSPHRASE_FILE")  # the fixture's automation path, off
    key = project.key_path(proj.board.settings, INTEGRATOR)
    assert is_protected(key)
    assert "PRIVATE KEY" in key.read_text() and oct(key.stat().st_mode & 0o777) == "0o600"
    proj.approved_task("a.txt", claim=False)
    main = proj.hub_ref(MAIN)
    before = proj.board.snapshot()

    # No terminal, no passphrase file: refused before anything starts.
    code, err = _integrate(proj, {})
    assert code == 2
    assert err.strip() == (
        f"ainarres: error: {INTEGRATOR}'s key {key} is passphrase-protected: "
        "run this on a terminal, use --ssh-agent, or set "
        "AINARRES_PASSPHRASE_FILE (weaker)"
    )
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    code, err = _integrate(proj, {"AINARRES_PASSPHRASE_FILE": str(wrong)})
    assert code == 2 and err.strip() == (
        f"ainarres: error: wrong passphrase for {key}; nothing was started"
    )
    code, err = _integrate(proj, {"AINARRES_PASSPHRASE_FILE": str(tmp_path / "missing")})
    assert code == 2 and f"cannot read the passphrase file {tmp_path / 'missing'}" in err
    assert proj.hub_ref(MAIN) == main
    assert proj.board.snapshot()["tasks"] == before["tasks"]


def test_integrator_grant_needs_a_protected_key(proj: Project, tmp_path: Path) -> None:
    run = proj.board.run
    name = "person+second"
    assert run("family", "add", name, "--tool", "person", "--model", "human").returncode == 0
    key = project.key_path(proj.board.settings, name)
    refused = run("grant", name, "integrator")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"ainarres: error: {name}'s key {key} has no passphrase; the integrator's must: run "
        f"`ainarres family protect {name}` first"
    )
    secret = tmp_path / "pp"
    secret.write_text("a long passphrase\n")
    env = {**os.environ, "AINARRES_PASSPHRASE_FILE": str(secret)}
    assert run("family", "protect", name, env=env).returncode == 0
    assert is_protected(key)
    taken = run("grant", name, "integrator")  # one seat, held by the project's integrator
    assert taken.returncode == 1 and "holds the one integrator seat" in taken.stderr
    assert run("revoke", INTEGRATOR, "integrator").returncode == 0
    assert run("grant", name, "integrator").returncode == 0
