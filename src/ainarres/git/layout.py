"""Names of the refs and files that make up a hub; shared by the hub setup and the hook.

Kept free of imports so the pre-receive hook can use it at no cost.
"""

from __future__ import annotations

from pathlib import Path

MAIN_REF = "refs/heads/main"
# The trailer that ties a merge on main to its task on the board.
TASK_TRAILER = "Ainarres-Task"
TASK_PREFIX = "refs/heads/task/"

STATE_DIR = "ainarres"
ALLOWED_SIGNERS = "allowed_signers"


def state_dir(hub_dir: Path) -> Path:
    """The folder inside a bare hub repository that holds ainarres' own files."""
    return hub_dir / STATE_DIR


def allowed_signers_file(hub_dir: Path) -> Path:
    """The ssh allowed-signers file git uses to verify push certificates."""
    return state_dir(hub_dir) / ALLOWED_SIGNERS
