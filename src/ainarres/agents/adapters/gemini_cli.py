"""Google's Gemini CLI, run headless (`gemini -p`)."""

from __future__ import annotations

import json

from ainarres.agents.adapters._common import (
    count,
    field,
    json_lines,
    last_json_value,
    mcp_servers,
    protocol_env,
    total_count,
)
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage

# Based on (knowledge as of 2026-11-25):
# - "Headless mode reference", https://geminicli.com/docs/cli/headless/ (and
#   google-gemini/gemini-cli docs/cli/headless.md): `-p/--prompt` forces headless mode;
#   `--output-format json` prints one object {"response", "stats", "error"?}.
# - "CLI cheatsheet", google-gemini/gemini-cli docs/cli/cli-reference.md: `-m/--model`,
#   `--approval-mode default|auto_edit|yolo|plan` (`--yolo` is deprecated),
#   `--include-directories`, `-o/--output-format text|json|stream-json`.
# - The stats object, as the docs' JSON example shows it: stats.models.<model>.tokens =
#   {"prompt", "candidates", "total", "cached", "thoughts", "tool"}, total = prompt +
#   candidates + thoughts; the JSON output carries no cost.
# - Trusted folders: since v0.41 a headless run in an untrusted folder exits 55 ("use
#   --skip-trust, set GEMINI_CLI_TRUST_WORKSPACE=true, or trust this directory"; the message
#   points to https://geminicli.com/docs/cli/trusted-folders/#headless-and-automated-
#   environments). The environment variable is used rather than the flag: older versions
#   ignore an unknown variable but would reject an unknown flag.
# Tried (2026-11-29, tests/tools) with @google/gemini-cli 0.61.0:
# - `--output-format stream-json` prints JSONL events as it goes (init, message, tool_use,
#   tool_result, and a last {"type": "result", "stats": {"input_tokens", "output_tokens",
#   "models": {MODEL: {"input_tokens", "output_tokens", "cached"}}}}); `json` prints only
#   at the end, which cannot be told from a hang;
# - GOOGLE_GEMINI_BASE_URL alone selects the "gateway" auth, which a headless run refuses
#   ("Invalid auth method selected", exit 41): with a base URL, the tool home's
#   ~/.gemini/settings.json must select {"security": {"auth": {"selectedType":
#   "gemini-api-key"}}};
# - GEMINI_CLI_SYSTEM_SETTINGS_PATH names the system settings file, read over the user's
#   (~/.gemini/settings.json): the claim's MCP server goes there, for this run only, as
#   {"mcpServers": {NAME: {"command", "args", "trust": true}}}; yolo mode calls its tools
#   without asking.
#: the job file that holds Gemini's settings for the run (its MCP server)
SETTINGS_FILE = "gemini-settings.json"


class GeminiCliAdapter(Adapter):
    """Gemini CLI in headless mode, auto-approving tools, with JSON stats for usage.

    Plan mode is Gemini's read-only mode, but it also forbids writing result.json, so a
    designer or reviewer runs in yolo mode like an implementer; Gemini cannot limit writes to
    the job folder, so the runner's sandbox is what protects the worktree.
    """

    name = "gemini-cli"
    binary = "gemini"
    install = "npm install -g @google/gemini-cli@~0.61.0"
    versions = ((0, 41), (1, 0))
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS")
    login_files = (".gemini/oauth_creds.json",)
    login_args = ()  # its first interactive run asks how to log in
    api_url = "https://generativelanguage.googleapis.com"
    api_url_env = ("GOOGLE_GEMINI_BASE_URL",)
    passthrough_env = (
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
    home_paths = (".gemini",)
    speaks_mcp = True

    def build(self, job: Job) -> Invocation:
        argv = (
            *(self.command or ("gemini",)),
            "--model",
            self.model,
            "--approval-mode",
            "yolo",
            "--output-format",
            "stream-json",
            # Gemini's file tools only reach the workspace; job.json, diff.json, diff.txt and
            # result.json live in the job folder
            "--include-directories",
            str(job.job_dir),
            "--prompt",  # last: --include-directories takes several values
            job.prompt,
        )
        env = {**protocol_env(job), "GEMINI_CLI_TRUST_WORKSPACE": "true"}
        files = {}
        if job.mcp:
            servers = {k: {**v, "trust": True} for k, v in mcp_servers(job).items()}
            files[SETTINGS_FILE] = json.dumps({"mcpServers": servers}, indent=2)
            env["GEMINI_CLI_SYSTEM_SETTINGS_PATH"] = str(job.job_dir / SETTINGS_FILE)
        return Invocation(argv=argv, cwd=job.workdir, env=env, timeout=self.timeout,
                          files=files)  # fmt: skip

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        results = [e for e in json_lines(stdout) if e.get("type") == "result"]
        if results:
            streamed = field(results[-1], "stats", "models")
            if isinstance(streamed, dict) and streamed:
                return Usage(
                    input_tokens=total_count(
                        count(field(m, "input_tokens")) for m in streamed.values()
                    ),
                    output_tokens=total_count(
                        count(field(m, "output_tokens")) for m in streamed.values()
                    ),
                )
        # the json format's stats (older versions, or a person's own command)
        models = field(last_json_value(stdout), "stats", "models")
        if not isinstance(models, dict) or not models:
            return Usage()
        tokens = [field(m, "tokens") for m in models.values()]
        # thoughts are generated (and billed) like candidates, so they count as output
        return Usage(
            input_tokens=total_count(count(field(t, "prompt")) for t in tokens),
            output_tokens=total_count(
                count(field(t, key)) for t in tokens for key in ("candidates", "thoughts")
            ),
        )
