"""Each family's tool home: the HOME its tool sees in the sandbox, kept between jobs.

    <state>/toolhomes/<family>/     0700, bound writable at sandbox.TOOL_HOME

What a tool keeps in its home lives here: its login (`claude auth login`, `codex login`,
`opencode auth login`), its settings (a custom provider's base URL, say) and its caches
(opencode's npm packages), so a job neither downloads them again nor loses a login. One
family's home is bound into that family's jobs only; no family sees another's, and no
tool sees the state directory's credentials beside it.

A person seeds a home by running the tool's own login in the sandbox (`ainarres agent
login --family F`), by copying the tool's files from their own home (`--copy-home`), or by
writing files into the folder (`ainarres agent login --family F --where` prints it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ainarres.agents.adapters.base import Adapter
from ainarres.config import Settings
from ainarres.credentials import ensure_private_dir
from ainarres.errors import BadInput
from ainarres.store import family_name


def path(settings: Settings, family: str) -> Path:
    """Where `family`'s tool home is (whether or not it exists yet)."""
    return Path(settings.state_dir) / "toolhomes" / family_name(family)


def ensure(settings: Settings, family: str) -> Path:
    """The family's tool home, made private (0700) if it is new."""
    home = path(settings, family)
    ensure_private_dir(home.parent)
    ensure_private_dir(home)
    if home.is_symlink() or not home.is_dir():
        raise BadInput(f"{home} is not a folder; remove it and run the agent again")
    return home


def copy_from(source_home: Path, home: Path, adapter: Adapter) -> list[str]:
    """Copy the tool's own files (`adapter.home_paths`) from a person's home into a tool
    home, replacing what is there; returns what was copied. Links are copied as links."""
    copied = []
    real_home = home.resolve()
    for rel in adapter.home_paths:
        src, dst = source_home / rel, home / rel
        if not src.exists() and not src.is_symlink():
            continue
        _refuse_links(home, rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.parent.resolve().is_relative_to(real_home):
            raise BadInput(f"{dst.parent} leads out of the tool home; remove it and retry")
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
        copied.append(rel)
    return copied


def _refuse_links(home: Path, rel: str) -> None:
    """A tool writes its home: a folder on the way to `rel` that is a link (the tool made
    it) could turn the copy's remove-and-replace onto a folder of its choice."""
    here = home
    for part in Path(rel).parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise BadInput(f"{here} in the tool home is a link (a tool made it); remove it "
                           "and copy again")  # fmt: skip


def logged_in(home: Path, adapter: Adapter) -> str | None:
    """The first of the adapter's login files present in the tool home, if any."""
    for rel in adapter.login_files:
        if (home / rel).is_file():
            return rel
    return None


def person_home() -> Path:
    return Path(os.path.expanduser("~"))
