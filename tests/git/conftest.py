"""Fixtures for the git tests: an isolated git environment, signing keys and a fresh hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from githelpers import AGENT, FIXED_ENV, INTEGRATOR, SCRUBBED, STRANGER, Keys, commit_file, make_hub

from ainarres.git.hub import Hub
from ainarres.git.keys import generate_signing_key
from ainarres.git.push import clone_hub


@pytest.fixture(autouse=True)
def _git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give every test its own HOME and a fixed git identity, with no system config."""
    home = tmp_path / "git-home"
    home.mkdir(mode=0o700)
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name, value in FIXED_ENV.items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """Signing keys, generated once per session (ssh-keygen takes a few milliseconds each)."""
    base = tmp_path_factory.mktemp("keys") / "ssh"
    return Keys(
        integrator=generate_signing_key(base / "integrator", INTEGRATOR),
        agent=generate_signing_key(base / "agent", AGENT),
        stranger=generate_signing_key(base / "stranger", STRANGER),
    )


@pytest.fixture
def hub(tmp_path: Path, keys: Keys) -> Hub:
    """A fresh, configured hub."""
    return make_hub(tmp_path / "hub.git", keys)


@pytest.fixture
def clone(hub: Hub, tmp_path: Path) -> Iterator[Path]:
    """A clone of the hub with one new commit on main, ready to push."""
    dest = clone_hub(hub.path, tmp_path / "clone")
    commit_file(dest, "NOTES.md", "integrated by the tests\n")
    yield dest
