"""One adapter per agent tool: turn a claimed job into that tool's non-interactive command.

An adapter never runs anything itself: `build` returns the exact command line, and
`usage` reads the token/cost figure from what the tool printed, where it reports one.
"""

from __future__ import annotations

from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage

__all__ = ["Adapter", "Invocation", "Job", "Usage", "get_adapter", "ADAPTERS"]


def _registry() -> dict[str, type[Adapter]]:
    from ainarres.agents.adapters import script, tools

    return {"script": script.ScriptAdapter, **tools.ADAPTERS}


ADAPTERS = _registry()


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class for `name` (claude-code, codex, gemini-cli, opencode, grok, aider,
    script)."""
    return ADAPTERS[name]
