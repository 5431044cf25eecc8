"""Names of the refs and files that make up a hub; shared by the hub setup and the hook.

Kept free of imports so the pre-receive hook can use it at no cost.
"""

from __future__ import annotations

from pathlib import Path

MAIN_REF = "refs/heads/main"
TASK_PREFIX = "refs/heads/task/"

STATE_DIR = "ainarres"
ALLOWED_SIGNERS = "allowed_signers"
INTEGRATORS = "integrators"


def state_dir(hub_dir: Path) -> Path:
    """The folder inside a bare hub repository that holds ainarres' own files."""
    return hub_dir / STATE_DIR


def integrators_file(hub_dir: Path) -> Path:
    """The file listing, one per line, the principals allowed to move main."""
    return state_dir(hub_dir) / INTEGRATORS


def allowed_signers_file(hub_dir: Path) -> Path:
    """The ssh allowed-signers file git uses to verify push certificates."""
    return state_dir(hub_dir) / ALLOWED_SIGNERS


def read_principals(path: Path) -> frozenset[str]:
    """Return the principals listed in ``path``; blank lines and ``#`` comments are ignored.

    A missing file means nobody is listed, so the gate fails closed.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return frozenset()
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(name for name in names if name)
