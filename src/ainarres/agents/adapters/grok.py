"""Grok CLI (superagent-ai/grok-cli, the community `grok`), run headless (`grok --prompt`)."""

from __future__ import annotations

from ainarres.agents.adapters._common import count, field, json_lines, protocol_env, total_count
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage


# Based on (knowledge as of 2026-11-25):
# - superagent-ai/grok-cli src/index.ts and README: `-p/--prompt` (headless: process one
#   prompt and exit, every tool call auto-approved), `-m/--model`, `-d/--directory`,
#   `--max-tool-rounds` (default 400); key from GROK_API_KEY (or ~/.grok/user-settings.json),
#   GROK_BASE_URL, GROK_MODEL (.env.example).
# - superagent-ai/grok-cli PR #185 "add json output mode for headless runs" (v1.0.0-rc3,
#   2026-03-22) and src/headless/output.ts: `--format text|json`; json is JSONL events
#   step_start / text / tool_use / step_finish {"usage": {"inputTokens", "outputTokens",
#   "totalTokens"}} / error / run_finish. No cost is reported.
# Not used: `--directory` (cwd already is the workdir), `--max-tool-rounds` (the default is
# generous and the runner's timeout bounds the run). No read-only mode is documented.
# Beware: xAI's official "Grok Build" CLI is also called `grok`, with different flags
# (`-p/--single`, `--output-format`, `--always-approve`, XAI_API_KEY; docs.x.ai/build/cli).
# This adapter drives the community CLI only.
class GrokAdapter(Adapter):
    """superagent-ai's grok CLI in headless mode with JSONL output.

    Headless runs approve every tool call and there is no read-only mode, so a designer or
    reviewer runs like an implementer; the runner's sandbox protects the worktree.
    """

    name = "grok"
    passthrough_env = ("GROK_API_KEY", "GROK_BASE_URL")
    home_paths = (".grok",)

    def build(self, job: Job) -> Invocation:
        argv = (
            *(self.command or ("grok",)),
            "--model",
            self.model,
            "--format",
            "json",
            "--prompt",
            job.prompt,
        )
        return Invocation(argv=argv, cwd=job.workdir, env=protocol_env(job), timeout=self.timeout)

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        steps = [e for e in json_lines(stdout) if e.get("type") == "step_finish"]
        if not steps:
            return Usage()
        return Usage(
            input_tokens=total_count(count(field(s, "usage", "inputTokens")) for s in steps),
            output_tokens=total_count(count(field(s, "usage", "outputTokens")) for s in steps),
        )
