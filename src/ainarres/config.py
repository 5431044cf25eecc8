"""Where ainarres keeps its state, and which database it talks to."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput

STATE_DIR_ENV = "AINARRES_HOME"
DATABASE_URL_ENV = "AINARRES_DATABASE_URL"
FAMILY_ENV = "AINARRES_FAMILY"
AGENT_ENV = "AINARRES_AGENT"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one invocation: explicit flags win over the environment."""

    state_dir: Path
    database_url: str | None

    @property
    def embedded(self) -> bool:
        """True when ainarres runs its own PostgreSQL under the state directory."""
        return self.database_url is None


STATE_DIR_NAME = ".ainarres"


def find_state_dir(start: Path) -> Path | None:
    """The nearest `.ainarres` folder in `start` or one of its parents, as git finds
    `.git`: every command works inside a task worktree (which lives under it)."""
    for folder in (start, *start.parents):
        candidate = folder / STATE_DIR_NAME
        if candidate.is_dir():
            return candidate
    return None


def resolve(state_dir: str | Path | None = None, database_url: str | None = None) -> Settings:
    """Settings from flags, then `AINARRES_HOME` / `AINARRES_DATABASE_URL`, then defaults.

    The default state directory is the nearest `.ainarres` in the current folder or a
    parent, else `.ainarres` in the current folder (made by `ainarres init`), so a
    project's board lives beside the project, the way `.git` does.
    """
    raw_dir = state_dir or os.environ.get(STATE_DIR_ENV)
    cwd = Path.cwd()
    found = Path(raw_dir).expanduser() if raw_dir else find_state_dir(cwd)
    url = database_url or os.environ.get(DATABASE_URL_ENV) or None
    path = (found or cwd / STATE_DIR_NAME).absolute()
    return Settings(state_dir=path, database_url=url or _joined_board(path))


def _joined_board(state_dir: Path) -> str | None:
    """The board a machine joined from a bundle records (`board.json`, no login in it)."""
    try:
        return str(json.loads((state_dir / "board.json").read_text())["url"]) or None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInput(
            f"{state_dir / 'board.json'} is damaged: run `ainarres join` again, "
            "or give the board with --database-url"
        ) from None
