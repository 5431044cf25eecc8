"""Adapters for the agent CLIs people use today: the registry. Each tool's adapter lives in
its own module, with the documentation it was written from."""

from __future__ import annotations

from ainarres.agents.adapters.aider import AiderAdapter
from ainarres.agents.adapters.base import Adapter
from ainarres.agents.adapters.claude_code import ClaudeCodeAdapter
from ainarres.agents.adapters.codex import CodexAdapter
from ainarres.agents.adapters.gemini_cli import GeminiCliAdapter
from ainarres.agents.adapters.grok import GrokAdapter
from ainarres.agents.adapters.opencode import OpencodeAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    cls.name: cls
    for cls in (
        ClaudeCodeAdapter,
        CodexAdapter,
        GeminiCliAdapter,
        OpencodeAdapter,
        GrokAdapter,
        AiderAdapter,
    )
}
