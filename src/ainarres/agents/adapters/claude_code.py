"""Anthropic's Claude Code, run headless (`claude -p`)."""

from __future__ import annotations

from typing import Any

from ainarres.agents.adapters._common import (
    amount,
    count,
    field,
    last_json_value,
    protocol_env,
    total_count,
)
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage

#: the built-in tools a designer or reviewer may use without asking; edits are granted
#: separately, for the job folder only
_READ_TOOLS = ("Read", "Grep", "Glob", "Bash")


# Based on (knowledge as of 2026-11-25):
# - "CLI reference", https://docs.anthropic.com/en/docs/claude-code/cli-reference:
#   `-p/--print`, `--model`, `--output-format text|json|stream-json`, `--add-dir`,
#   `--allowedTools` (space-separated, or one comma-separated string).
# - "Headless mode", https://docs.claude.com/en/docs/claude-code/headless, and the Agent SDK
#   result message: the json result is one object {"type": "result", "result", "session_id",
#   "total_cost_usd", "usage": {"input_tokens", "cache_creation_input_tokens",
#   "cache_read_input_tokens", "output_tokens"}, ...}.
# - "Permission modes", https://code.claude.com/docs/en/permission-modes, and "Permissions",
#   https://code.claude.com/docs/en/permissions: `--permission-mode default|acceptEdits|plan|
#   auto|dontAsk|bypassPermissions`; dontAsk denies whatever is not pre-approved; `Edit(...)`
#   rules cover every file-editing tool; `//path` is an absolute path.
class ClaudeCodeAdapter(Adapter):
    """Claude Code in print mode, with a JSON result that carries tokens and cost.

    An implementer runs with `bypassPermissions` (the runner's sandbox is the boundary).
    A designer or reviewer runs with `dontAsk`: it may read, search and run shell commands,
    and edit only inside the job folder, where it writes result.json. Plan mode would be the
    read-only flag, but it also forbids writing result.json. The Edit rule does not bind the
    Bash tool, so a shell command could still change the worktree: the sandbox covers that.
    """

    name = "claude-code"
    passthrough_env = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    home_paths = (".claude", ".claude.json")

    def build(self, job: Job) -> Invocation:
        # the prompt goes right after -p: --allowedTools and --add-dir take several values
        # and would swallow a positional argument that followed them
        argv = [
            *(self.command or ("claude",)),
            "-p",
            job.prompt,
            "--model",
            self.model,
            "--output-format",
            "json",
        ]
        if job.role == "implementer":
            argv += ["--permission-mode", "bypassPermissions"]
        else:
            edits = f"Edit(/{job.job_dir}/**)"  # "//" + absolute path, as the rules spell it
            argv += [
                "--permission-mode",
                "dontAsk",
                "--allowedTools",
                ",".join((*_READ_TOOLS, edits)),
            ]
        # job.json, diff.json and diff.txt live in the job folder, outside the checkout
        argv += ["--add-dir", str(job.job_dir)]
        return Invocation(
            argv=tuple(argv), cwd=job.workdir, env=protocol_env(job), timeout=self.timeout
        )

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        result = _result_message(last_json_value(stdout))
        if result is None:
            return Usage()
        usage = result.get("usage")
        # input_tokens counts only the uncached part; the cache reads and writes are input too
        input_tokens = total_count(
            count(field(usage, key))
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return Usage(
            input_tokens=input_tokens,
            output_tokens=count(field(usage, "output_tokens")),
            cost_usd=amount(result.get("total_cost_usd")),
        )


def _result_message(value: Any) -> dict[str, Any] | None:
    """The `result` message: the whole output, or (with --verbose) the last of a list."""
    candidates = value if isinstance(value, list) else [value]
    for item in reversed(candidates):
        if isinstance(item, dict) and item.get("type") == "result":
            return item
    return None
