"""Grok CLI: `@vibe-kit/grok-cli` 0.0.x on npm (superagent-ai/grok-cli before 1.0), run
headless (`grok --prompt`)."""

from __future__ import annotations

import re

from ainarres.agents.adapters._common import protocol_env
from ainarres.agents.adapters.base import Adapter, Invocation, Job

#: what `grok --help` of the CLI this adapter drives says, and of the others called grok
_OURS = ("--prompt <prompt>", "--max-tool-rounds", "--base-url")
_OTHERS = (
    (re.compile(r"--always-approve|--single\b|--output-format"), "xAI's Grok Build CLI"),
    (re.compile(r"--format\b"), "superagent-ai/grok-cli 1.x (grok-dev)"),
)


# Based on (knowledge as of 2026-11-29): the package npm installs, @vibe-kit/grok-cli 0.0.34
# (dist/index.js and dist/grok/client.js), tried in tests/tools:
# - `grok -p/--prompt P` processes one prompt and exits, every tool call auto-approved;
#   `-m/--model`, `-d/--directory`, `-u/--base-url`, `-k/--api-key`, `--max-tool-rounds`;
#   key and API from GROK_API_KEY and GROK_BASE_URL (OpenAI Chat Completions, streamed);
# - headless it prints the conversation at the end, one OpenAI-style message per line
#   ({"role", "content", "tool_calls"?}), and no token counts: usage is not reported;
# - it writes `.grok/settings.json` ({"model": ...}) into its working folder: the runner
#   removes it after the run when the run made it;
# - `--version` says 1.0.1 whatever the package version, so the tool is told apart by its
#   `--help`.
# Not driven: superagent-ai/grok-cli 1.x, published as `grok-dev` (`--format json`, JSONL
# step events with usage), which the npm registry here does not have, and xAI's official
# "Grok Build" CLI, also called `grok` (`-p/--single`, `--output-format`,
# `--always-approve`); both are refused by name when installed as `grok`.
class GrokAdapter(Adapter):
    """@vibe-kit/grok-cli in headless mode.

    Headless runs approve every tool call and there is no read-only mode, so a designer or
    reviewer runs like an implementer; the runner's sandbox protects the worktree. It
    prints only when done, so only the timeout bounds a run (the openai client it uses
    gives up on an unreachable API by itself).
    """

    name = "grok"
    binary = "grok"
    install = "npm install -g @vibe-kit/grok-cli@0.0.34"
    passthrough_env = ("GROK_API_KEY", "GROK_BASE_URL")
    key_env = ("GROK_API_KEY",)
    login_files = (".grok/user-settings.json",)
    home_paths = (".grok",)
    litter = (".grok",)
    prints_progress = False
    api_url = "https://api.x.ai/v1"
    api_url_env = ("GROK_BASE_URL",)

    def build(self, job: Job) -> Invocation:
        argv = (*(self.command or ("grok",)), "--model", self.model, "--prompt", job.prompt)
        return Invocation(argv=argv, cwd=job.workdir, env=protocol_env(job), timeout=self.timeout)

    def identify(self, help_text: str) -> str | None:
        if all(mark in help_text for mark in _OURS) and "--format" not in help_text:
            return None
        other = next((name for pattern, name in _OTHERS if pattern.search(help_text)), None)
        return (f"it is {other}, not @vibe-kit/grok-cli 0.0.x" if other
                else "its --help is not that of @vibe-kit/grok-cli 0.0.x")  # fmt: skip
