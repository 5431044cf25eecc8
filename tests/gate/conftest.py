"""Fixtures of the gate tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from boardenv import BoardEnv
from scenario import Project, make_project


@pytest.fixture
def proj(board: BoardEnv, tmp_path: Path) -> Project:
    return make_project(board, tmp_path)
