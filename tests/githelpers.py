"""Helpers shared by the git tests (imported by tests/git/conftest.py and the test modules).

A module with its own name, because ``conftest`` is ambiguous next to tests/conftest.py.
It lives in tests/, beside boardenv and scenario, so that mypy finds ``githelpers`` there:
tests/git cannot be a module root of its own, whose conftest.py would clash with
tests/conftest.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ainarres.git.hub import Hub, add_allowed_signer, init_hub
from ainarres.git.keys import SigningKey

REPO_ROOT = Path(__file__).resolve().parents[1]
SANDBOX = REPO_ROOT / "sandbox-repo"

# Fixed identities and dates make every commit id reproducible across runs and hubs.
FIXED_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.test",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00+00:00",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
# Anything inherited that could point git elsewhere or change how it signs or pushes.
SCRUBBED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_COUNT",
    "GIT_SSH_COMMAND",
    "SSH_AUTH_SOCK",
    "PYTHONPATH",
)

INTEGRATOR = "integrator@hub.test"
AGENT = "agent@hub.test"
STRANGER = "stranger@elsewhere.test"


@dataclass(frozen=True)
class Keys:
    """The three signers every scenario needs."""

    integrator: SigningKey
    agent: SigningKey
    stranger: SigningKey


def make_hub(path: Path, keys: Keys) -> Hub:
    """A hub from sandbox-repo where the integrator and the agent may sign; the stranger's
    key is unknown to it. (Not bound to a board: the gate refuses every push to it.)"""
    hub = init_hub(path, SANDBOX)
    add_allowed_signer(hub, keys.integrator)
    add_allowed_signer(hub, keys.agent)
    return hub


def git_out(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stripped stdout (fails the test on error)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def commit_file(repo: Path, name: str, text: str) -> str:
    """Write ``name`` in ``repo``, commit it, and return the new commit id."""
    (repo / name).write_text(text)
    git_out(repo, "add", name)
    git_out(repo, "commit", "--quiet", "--no-gpg-sign", "-m", f"Add {name}")
    return git_out(repo, "rev-parse", "HEAD")


def hub_ref(hub: Hub, ref: str) -> str | None:
    """The commit ``ref`` points to in the hub, or None if the ref does not exist."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", ref],
        cwd=hub.path,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None
