"""A likely test command for a project, from the files it has: what `hub init` proposes
for `[checks] test` when the project has none yet."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

_MAKE_TEST = re.compile(r"^test\s*:", re.MULTILINE)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _uses_pytest(folder: Path) -> bool:
    if (folder / "pytest.ini").is_file() or (folder / "conftest.py").is_file():
        return True
    try:
        pyproject = tomllib.loads(_read(folder / "pyproject.toml"))
    except tomllib.TOMLDecodeError:
        pyproject = {}
    if "pytest" in pyproject.get("tool", {}):
        return True
    return "[tool:pytest]" in _read(folder / "setup.cfg") or "pytest" in _read(
        folder / "requirements-dev.txt"
    )


def likely_test_command(folder: Path) -> str | None:
    """The test command the project's files suggest (pytest, unittest, npm test, go test,
    cargo test, make test), or None."""
    if _uses_pytest(folder):
        return "python -m pytest -q"
    tests = folder / "tests"
    if (
        (folder / "pyproject.toml").is_file()
        or (folder / "setup.py").is_file()
        or (tests.is_dir() and any(tests.glob("test_*.py")))
    ):
        return "python -m unittest discover -s tests" if tests.is_dir() else "python -m unittest"
    try:
        package = json.loads(_read(folder / "package.json") or "{}")
    except ValueError:
        package = {}
    if isinstance(package, dict) and "test" in (package.get("scripts") or {}):
        return "npm test"
    if (folder / "go.mod").is_file():
        return "go test ./..."
    if (folder / "Cargo.toml").is_file():
        return "cargo test"
    if _MAKE_TEST.search(_read(folder / "Makefile")):
        return "make test"
    return None
