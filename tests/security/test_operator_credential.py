"""The operator's credential at rest: sealed under a passphrase, no plaintext copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ainarres.board.embedded import EmbeddedServer


def _run(
    state: Path, *args: str, passphrase_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AINARRES_"))}
    if passphrase_file is not None:
        env["AINARRES_OPERATOR_PASSPHRASE_FILE"] = str(passphrase_file)
    return subprocess.run(
        [sys.executable, "-m", "ainarres", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_operator_credential_sealed_under_a_passphrase(tmp_path: Path) -> None:
    state = tmp_path / ".ainarres"
    good, wrong = tmp_path / "good", tmp_path / "wrong"
    good.write_text("correct horse battery staple\n")
    wrong.write_text("guess\n")
    try:
        assert _run(state, "init").returncode == 0
        cred_file = state / "credentials" / "operator.json"
        password = json.loads(cred_file.read_text())["password"]
        sealed = _run(state, "init", "--passphrase", passphrase_file=good)
        assert sealed.returncode == 0, sealed.stderr
        text = cred_file.read_text()
        assert password not in text and "sealed" in json.loads(text)
        assert not any(
            password in p.read_text(errors="ignore") for p in state.rglob("*.json")
        )  # no plaintext copy anywhere

        locked = _run(state, "board")
        assert locked.returncode == 2
        assert locked.stderr.strip() == (
            f"ainarres: error: the credential for the operator ({cred_file}) is "
            "passphrase-protected: run this on a terminal or set "
            "AINARRES_OPERATOR_PASSPHRASE_FILE (weaker)"
        )
        bad = _run(state, "board", passphrase_file=wrong)
        assert bad.returncode == 2
        assert bad.stderr.strip() == f"ainarres: error: wrong passphrase for {cred_file}"

        ok = _run(
            state,
            "family",
            "add",
            "opencode+qwen",
            "--tool",
            "opencode",
            "--model",
            "qwen",
            passphrase_file=good,
        )
        assert ok.returncode == 0, ok.stderr
        assert (
            _run(state, "grant", "opencode+qwen", "implementer", passphrase_file=good).returncode
            == 0
        )
        # A family's agent needs its own credential only, never the operator's passphrase.
        agent = _run(state, "next", "--family", "opencode+qwen")
        assert agent.returncode == 5, agent.stderr
    finally:
        EmbeddedServer(state).stop()
