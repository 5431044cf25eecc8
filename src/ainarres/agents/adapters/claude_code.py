"""Anthropic's Claude Code, run headless (`claude -p`)."""

from __future__ import annotations

import json
import re
from typing import Any

from ainarres.agents.adapters._common import (
    MCP_SERVER,
    amount,
    count,
    field,
    json_lines,
    last_json_value,
    mcp_servers,
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
# - "MCP", https://code.claude.com/docs/en/mcp, and `claude --help` of 2.1.197:
#   `--mcp-config <configs...>` takes files or JSON strings ({"mcpServers": {NAME:
#   {"command", "args"}}}); a server's tools are `mcp__NAME__TOOL`, and the permission rule
#   `mcp__NAME` allows all of them.
class ClaudeCodeAdapter(Adapter):
    """Claude Code in print mode, with a JSON result that carries tokens and cost.

    An implementer runs with `bypassPermissions` (the runner's sandbox is the boundary).
    A designer or reviewer runs with `dontAsk`: it may read, search and run shell commands,
    and edit only inside the job folder, where it writes result.json. Plan mode would be the
    read-only flag, but it also forbids writing result.json. The Edit rule does not bind the
    Bash tool, so a shell command could still change the worktree: the sandbox covers that.
    """

    name = "claude-code"
    binary = "claude"
    install = "npm install -g @anthropic-ai/claude-code@~2.1.197"
    versions = ((2, 0), (3, 0))
    passthrough_env = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    key_env = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    login_files = (".claude/.credentials.json",)
    login_args = ("auth", "login")
    home_paths = (".claude", ".claude.json")
    sandbox_env = {"IS_SANDBOX": "1"}
    idle_lines = re.compile(r'"subtype":\s*"api_retry"')
    api_url = "https://api.anthropic.com"
    api_url_env = ("ANTHROPIC_BASE_URL",)
    speaks_mcp = True

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
            "stream-json",
            "--verbose",  # stream-json in print mode needs it
        ]
        if job.role == "implementer":
            argv += ["--permission-mode", "bypassPermissions"]
        else:
            edits = f"Edit(/{job.job_dir}/**)"  # "//" + absolute path, as the rules spell it
            claim = (f"mcp__{MCP_SERVER}",) if job.mcp else ()
            argv += [
                "--permission-mode",
                "dontAsk",
                "--allowedTools",
                ",".join((*_READ_TOOLS, edits, *claim)),
            ]
        # job.json, diff.json and diff.txt live in the job folder, outside the checkout
        argv += ["--add-dir", str(job.job_dir)]
        if job.mcp:  # one value, bound by "=": the option takes several
            argv.append("--mcp-config=" + json.dumps({"mcpServers": mcp_servers(job)}))
        # no update checks, telemetry or error reports: a job calls its model API only
        env = {**protocol_env(job), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "DISABLE_AUTOUPDATER": "1"}  # fmt: skip
        return Invocation(argv=tuple(argv), cwd=job.workdir, env=env, timeout=self.timeout)

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        results = [e for e in json_lines(stdout) if e.get("type") == "result"]
        result = results[-1] if results else _result_message(last_json_value(stdout))
        if result is None:
            return Usage()
        cost = amount(result.get("total_cost_usd"))
        per_model = result.get("modelUsage")
        if isinstance(per_model, dict) and per_model:
            models = list(per_model.values())
            keys = ("inputTokens", "cacheReadInputTokens", "cacheCreationInputTokens")
            return Usage(
                input_tokens=total_count(count(field(m, k)) for m in models for k in keys),
                output_tokens=total_count(count(field(m, "outputTokens")) for m in models),
                cost_usd=cost,
            )
        # older versions: the main loop's usage only
        usage = result.get("usage")
        # input_tokens counts only the uncached part; the cache reads and writes are input too
        input_tokens = total_count(
            count(field(usage, key))
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return Usage(
            input_tokens=input_tokens,
            output_tokens=count(field(usage, "output_tokens")),
            cost_usd=cost,
        )


def _result_message(value: Any) -> dict[str, Any] | None:
    """The `result` message: the whole output, or (with --verbose) the last of a list."""
    candidates = value if isinstance(value, list) else [value]
    for item in reversed(candidates):
        if isinstance(item, dict) and item.get("type") == "result":
            return item
    return None
