"""Environment hygiene for git subprocesses."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables that point git at a particular repository, index or object store. They
# are set while a hook runs; inherited by a command aimed at another repository they
# would silently redirect it, so commands that name their repository drop them.
_REPO_LOCAL = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Return ``base`` (default os.environ) minus repository-pinning variables, plus ``extra``."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _REPO_LOCAL}
    env.update(extra)
    return env
