"""opencode (anomalyco/opencode, formerly sst/opencode), run non-interactively
(`opencode run`)."""

from __future__ import annotations

import json

from ainarres.agents.adapters._common import (
    amount,
    count,
    field,
    json_lines,
    protocol_env,
    total_amount,
    total_count,
)
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage


# Based on (knowledge as of 2026-11-25):
# - "CLI", https://opencode.ai/docs/cli/ (anomalyco/opencode packages/web/src/content/docs/
#   cli.mdx): `opencode run [message..]`, `-m/--model provider/model`, `--agent`,
#   `--format default|json` ("raw JSON events"); env OPENCODE_PERMISSION ("inlined json
#   permissions config").
# - "Permissions", https://opencode.ai/docs/permissions/: allow/ask/deny per tool, `*`
#   wildcards, last matching rule wins; `edit` covers edit/write/patch/multiedit;
#   `external_directory` (paths outside the working directory) defaults to "ask".
# - anomalyco/opencode packages/opencode/src/cli/cmd/run.ts: a piped stdin is the message
#   when no message argument is given (a message argument containing spaces is re-quoted,
#   so stdin keeps the prompt verbatim); in `run`, a permission that would ask is rejected
#   unless `--auto` (hidden aliases `--yolo`, `--dangerously-skip-permissions`) is given;
#   `--format json` emits {"type": "step_finish", "part": {"cost", "tokens": {"input",
#   "output", "reasoning", "cache": {"read", "write"}}}} once per model step.
# Not used: `--auto`, which only the newest versions have under that name; the permission
# config below says the same thing and is documented for longer.
class OpencodeAdapter(Adapter):
    """`opencode run --format json`, the prompt on stdin, permissions set by environment.

    An implementer may do anything (the runner's sandbox is the boundary). A designer or
    reviewer may do anything but edit files, except inside the job folder where it writes
    result.json. The `plan` agent is opencode's read-only mode, but its own rules would deny
    that write too. Bash is not confined by the edit rules, so the sandbox still matters.
    """

    name = "opencode"
    # opencode takes any provider's key from the environment (or its own auth.json)
    passthrough_env = (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GOOGLE_GENERATIVE_AI_API_KEY",
        "OPENROUTER_API_KEY",
        "XAI_API_KEY",
        "GROQ_API_KEY",
    )
    home_paths = (".config/opencode", ".local/share/opencode")

    def build(self, job: Job) -> Invocation:
        argv = (*(self.command or ("opencode",)), "run", "--model", self.model, "--format", "json")
        env = {**protocol_env(job), "OPENCODE_PERMISSION": json.dumps(_permissions(job))}
        return Invocation(
            argv=argv, cwd=job.workdir, env=env, stdin=job.prompt, timeout=self.timeout
        )

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        steps = [field(e, "part") for e in json_lines(stdout) if e.get("type") == "step_finish"]
        if not steps:
            return Usage()
        # opencode reports uncached input, cache reads, cache writes, output and reasoning
        # as separate counts
        input_keys = (
            ("tokens", "input"),
            ("tokens", "cache", "read"),
            ("tokens", "cache", "write"),
        )
        output_keys = (("tokens", "output"), ("tokens", "reasoning"))
        return Usage(
            input_tokens=total_count(count(field(s, *k)) for s in steps for k in input_keys),
            output_tokens=total_count(count(field(s, *k)) for s in steps for k in output_keys),
            cost_usd=total_amount(amount(field(s, "cost")) for s in steps),
        )


def _permissions(job: Job) -> dict[str, object]:
    """The permission config: ask nothing (nobody could answer), confine a designer's or
    reviewer's edits to the job folder."""
    job_files = f"{job.job_dir}/**"
    if job.role == "implementer":
        return {"*": "allow"}
    return {
        "*": "allow",
        "edit": {"*": "deny", job_files: "allow"},
        "external_directory": {"*": "deny", job_files: "allow"},
    }
