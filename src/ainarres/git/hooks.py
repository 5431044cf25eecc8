"""Install the ainarres hook shims into a hub and check that they are still the ones installed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
from pathlib import Path

from ainarres.errors import EXIT_UNEXPECTED, AinarresError

MARKER = "# ainarres-hook v1"
PYTHON_PLACEHOLDER = "@PYTHON@"
SHIM_PLACEHOLDER = "@SHIM@"
MANIFEST = "hooks.json"
REINSTALL = "reinstall the hooks (ainarres hub install-hooks)"


def hook_templates_dir() -> Path:
    """Return the folder holding the hook templates.

    A wheel ships them inside the package (``ainarres/hooks``); a source checkout keeps
    them in the top-level ``hooks/`` folder, found the same way as ``migrations/``.
    """
    candidates = [Path(__file__).parents[1] / "hooks", Path(__file__).parents[3] / "hooks"]
    for candidate in candidates:
        if (candidate / "pre-receive").is_file():
            return candidate
    raise AinarresError(
        "hook templates not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall ainarres",
        EXIT_UNEXPECTED,
    )


def shim_path() -> Path:
    """The hook's own program (gate/shim.py), run by path: it imports nothing of ainarres."""
    return (Path(__file__).parents[1] / "gate" / "shim.py").resolve()


def render_hook(template: str, python: str, shim: Path | None = None) -> str:
    """Return the hook text with the interpreter and the shim's paths filled in, quoted."""
    if PYTHON_PLACEHOLDER not in template:
        raise AinarresError(f"hook template lacks {PYTHON_PLACEHOLDER}", EXIT_UNEXPECTED)
    text = template.replace(PYTHON_PLACEHOLDER, shlex.quote(python))
    return text.replace(SHIM_PLACEHOLDER, shlex.quote(str(shim or shim_path())))


def is_ours(path: Path) -> bool:
    """True when ``path`` is a hook that ainarres installed (it carries the marker line)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return MARKER in (line.strip() for line in lines[:5])


def _aside_name(path: Path) -> Path:
    """Return a free ``<name>.foreign[.N]`` path so an earlier kept-aside hook survives too."""
    candidate = path.with_name(path.name + ".foreign")
    n = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}.foreign.{n}")
        n += 1
    return candidate


def _write_executable(path: Path, text: str) -> None:
    # Write beside the target and rename, so git never runs a half-written hook.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_hooks(git_dir: Path, python: str) -> dict[str, str]:
    """Install every template hook into ``git_dir/hooks``; return ``{name: sha256}``.

    A foreign hook already in place is renamed to ``<name>.foreign`` and kept; our own
    hook is rewritten, so installing twice gives the same files. The digests are
    recorded in ``git_dir/ainarres/hooks.json`` for :func:`check_hooks`.
    """
    hooks_dir = git_dir / "hooks"
    hooks_dir.mkdir(exist_ok=True)
    digests: dict[str, str] = {}
    for template in sorted(hook_templates_dir().iterdir()):
        if not template.is_file() or not is_ours(template):
            continue
        text = render_hook(template.read_text(), python)
        target = hooks_dir / template.name
        if (target.exists() or target.is_symlink()) and not is_ours(target):
            target.rename(_aside_name(target))
        _write_executable(target, text)
        digests[template.name] = hashlib.sha256(text.encode()).hexdigest()
    state = git_dir / "ainarres"
    state.mkdir(exist_ok=True)
    manifest = {"version": 1, "python": python, "shim": str(shim_path()), "hooks": digests}
    (state / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return digests


def check_hooks(git_dir: Path) -> list[str]:
    """Return one problem per hook that is missing, changed or not executable (empty if fine)."""
    try:
        manifest = json.loads((git_dir / "ainarres" / MANIFEST).read_text())
        recorded: dict[str, str] = dict(manifest["hooks"])
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{git_dir / 'ainarres' / MANIFEST} is missing or unreadable; {REINSTALL}"]
    problems: list[str] = []
    for name, digest in sorted(recorded.items()):
        path = git_dir / "hooks" / name
        if not path.is_file():
            problems.append(f"hook {name} is missing; {REINSTALL}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"hook {name} was changed since it was installed; {REINSTALL}")
        elif not os.access(path, os.X_OK):
            problems.append(f"hook {name} is not executable; {REINSTALL}")
    return problems
