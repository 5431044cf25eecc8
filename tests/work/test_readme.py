"""The newcomer path runs as written: README's setup block, top to bottom, in a fresh
folder, as a script with no terminal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from boardenv import REPO_ROOT

SANDBOX = REPO_ROOT / "sandbox-repo"


def setup_block() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Using it on your own project") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "README has no setup block under 'Using it on your own project'"
    return found.group(1)


@pytest.mark.slow
def test_readme_setup_block_runs_as_a_script_without_a_terminal(tmp_path: Path) -> None:
    project = tmp_path / "your-project"
    shutil.copytree(SANDBOX, project)
    (project / "ainarres.toml").unlink()  # a project new to ainarres has none
    secret = tmp_path / "integrator.passphrase"
    secret.write_text("correct horse battery staple\n")
    secret.chmod(0o600)
    script = tmp_path / "setup.sh"
    script.write_text("set -euo pipefail\n" + setup_block())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINARRES_", "PG"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["AINARRES_PASSPHRASE_FILE"] = str(secret)
    try:
        done = subprocess.run(
            ["bash", str(script)],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        board = subprocess.run(
            ["ainarres", "task", "list", "--all"],
            cwd=project / "sandbox",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert board.returncode == 0 and "Add word statistics" in board.stdout
    finally:
        subprocess.run(
            ["ainarres", "db", "stop"], cwd=project, env=env, capture_output=True, check=False
        )
