"""opencode (anomalyco/opencode, formerly sst/opencode), run non-interactively
(`opencode run`)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

from ainarres.agents.adapters._common import (
    MCP_SERVER,
    amount,
    count,
    field,
    json_lines,
    loads,
    protocol_env,
    total_amount,
    total_count,
)
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage, host_port

#: where opencode's providers answer, by the model's provider prefix
_PROVIDER_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "google": "https://generativelanguage.googleapis.com",
    "openrouter": "https://openrouter.ai/api/v1",
    "xai": "https://api.x.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
}


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
# Tried (2026-11-29, tests/tools) with opencode-ai 1.18.33, which explains its silence:
# - with its model unreachable (a provider it cannot reach, a key it lacks), `run --format
#   json` prints nothing at all, on stdout or stderr, and retries for good: its log goes to
#   ~/.local/share/opencode/log only. `--print-logs --log-level WARN` puts the warnings and
#   errors ("stream error ... Cannot connect to API") on stderr, where tool.err shows them,
#   and the runner counts those retries as no progress (the silence watchdog stops it);
# - without `--title` each run first asks the model for a session title, a model call
#   that no step_finish event reports: the title is set instead;
# - on its first run in a home it installs npm packages into ~/.config/opencode and
#   ~/.cache/opencode (a registry download, in the background; a failed one is only a
#   warning) and fetches models.dev: the family's tool home keeps them between jobs
#   (OPENCODE_DISABLE_MODELS_FETCH=1 and npm_config_offline=true, passed by a family's
#   env, turn both off);
# - a custom provider (its base URL) is set in the tool home's
#   ~/.config/opencode/opencode.json, or in OPENCODE_CONFIG_CONTENT;
# - OPENCODE_CONFIG names one more config file, merged over the global one (the bundled
#   config loader, and the docs' "config" page): the claim's MCP server goes there, as
#   {"mcp": {NAME: {"type": "local", "command": [...], "enabled": true}}}, its tools named
#   NAME_TOOL; a person's OPENCODE_CONFIG_CONTENT still applies after it.
#: the job file that holds opencode's config for the run (its MCP server)
CONFIG_FILE = "opencode-mcp.json"


class OpencodeAdapter(Adapter):
    """`opencode run --format json`, the prompt on stdin, permissions set by environment.

    An implementer may do anything (the runner's sandbox is the boundary). A designer or
    reviewer may do anything but edit files, except inside the job folder where it writes
    result.json. The `plan` agent is opencode's read-only mode, but its own rules would deny
    that write too. Bash is not confined by the edit rules, so the sandbox still matters.
    """

    name = "opencode"
    binary = "opencode"
    install = "npm install -g opencode-ai@~1.18.33"
    versions = ((1, 0), (2, 0))
    login_files = (".local/share/opencode/auth.json",)
    login_args = ("auth", "login")
    idle_lines = re.compile(r'level=ERROR .*message="stream error"')
    # opencode takes any provider's key from the environment (or its own auth.json)
    passthrough_env = (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GOOGLE_GENERATIVE_AI_API_KEY",
        "OPENROUTER_API_KEY",
        "XAI_API_KEY",
        "GROQ_API_KEY",
    )
    key_env = passthrough_env
    home_paths = (".config/opencode", ".local/share/opencode/auth.json")
    speaks_mcp = True

    def build(self, job: Job) -> Invocation:
        argv = (
            *(self.command or ("opencode",)),
            "run",
            "--model",
            self.model,
            "--format",
            "json",
            "--title",  # no model call to make one up
            f"ainarres {job.role} {job.short_id}",
            "--print-logs",  # its errors on stderr, not only in its log file
            "--log-level",
            "WARN",
        )
        env = {**protocol_env(job), "OPENCODE_PERMISSION": json.dumps(_permissions(job))}
        files = {}
        if job.mcp:
            server = {"type": "local", "command": list(job.mcp), "enabled": True}
            files[CONFIG_FILE] = json.dumps({"mcp": {MCP_SERVER: server}}, indent=2)
            env["OPENCODE_CONFIG"] = str(job.job_dir / CONFIG_FILE)
        return Invocation(argv=argv, cwd=job.workdir, env=env, stdin=job.prompt,
                          timeout=self.timeout, files=files)  # fmt: skip

    def endpoint(self, env: Mapping[str, str], home: Path | None) -> tuple[str, int] | None:
        """The model's provider: its baseURL in the tool home's opencode.json or in
        OPENCODE_CONFIG_CONTENT, else the provider's own API."""
        provider = self.model.partition("/")[0]
        configs = [env.get("OPENCODE_CONFIG_CONTENT", "")]
        if home is not None:
            for name in ("opencode.json", "config.json"):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    configs.append((home / ".config" / "opencode" / name).read_text())
        for text in configs:
            url = field(loads(text), "provider", provider, "options", "baseURL")
            if isinstance(url, str):
                return host_port(url)
        known = _PROVIDER_URLS.get(provider)
        return host_port(known) if known else None

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
