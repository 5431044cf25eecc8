"""OpenAI's Codex CLI, run non-interactively (`codex exec`)."""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ainarres.agents.adapters._common import (
    MCP_SERVER,
    count,
    field,
    json_lines,
    protocol_env,
    total_count,
)
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage, host_port


# Based on (knowledge as of 2026-11-25):
# - "Non-interactive mode", https://developers.openai.com/codex/noninteractive, and
#   "Command line options", https://developers.openai.com/codex/cli/reference: `codex exec`,
#   `-m/--model`, `--json` (JSONL events on stdout), `--skip-git-repo-check`,
#   `-s/--sandbox read-only|workspace-write|danger-full-access`, `--add-dir`,
#   `--dangerously-bypass-approvals-and-sandbox` ("only inside an externally hardened
#   environment"); exec never asks for approvals; `--full-auto` is deprecated.
# - openai/codex source: codex-rs/exec/src/cli.rs, codex-rs/utils/cli shared options (the
#   flags above; `--full-auto` is now a trap that only warns) and codex-rs/exec/src/
#   exec_events.rs: {"type": "turn.completed", "usage": {"input_tokens",
#   "cached_input_tokens", "output_tokens"}}, where input_tokens includes the cached ones.
# Tried (2026-11-29, tests/tools) with @openai/codex 0.171.0:
# - it reads no base-URL variable: the API is set in $CODEX_HOME/config.toml (the family's
#   tool home, ~/.codex): `openai_base_url`, or `model_provider` and a
#   `[model_providers.NAME]` table with `base_url`, `env_key` and `wire_api = "responses"`
#   (a custom provider skips the Responses WebSocket the built-in one tries first);
# - it reads stdin to its end before starting ("Reading additional input from stdin"): the
#   runner gives it /dev/null;
# - with the model away it prints {"type": "error", "message": "Reconnecting... "} events
#   and retries for good;
# - it refuses to keep helper binaries under a temporary folder (a HOME under /tmp), which
#   is why the sandbox's tool home is not there;
# - `-c/--config key=value` overrides config.toml for one run, the value read as TOML:
#   `mcp_servers.NAME.command` and `mcp_servers.NAME.args` add a stdio MCP server, whose
#   tools exec calls without asking when approvals are bypassed.
class CodexAdapter(Adapter):
    """`codex exec --json`, with its own sandbox turned off for every role.

    Codex's only write restriction is its OS sandbox, and it cannot do what a designer or
    reviewer needs: read-only forbids writing result.json, and workspace-write (even with
    `--add-dir` for the job folder) always leaves the checkout writable too. It may also fail
    to start inside the runner's own sandbox, which would break every shell command, reads
    included. So codex runs unsandboxed and unprompted, and the runner's sandbox is the one
    boundary; the prompt is what keeps a reviewer from editing the worktree.
    """

    name = "codex"
    binary = "codex"
    install = "npm install -g @openai/codex@~0.171.0"
    versions = ((0, 100), (1, 0))
    # CODEX_API_KEY is read by `codex exec` only; OPENAI_API_KEY by the API-key login
    passthrough_env = ("OPENAI_API_KEY", "CODEX_API_KEY")
    key_env = ("OPENAI_API_KEY", "CODEX_API_KEY")
    login_files = (".codex/auth.json",)
    login_args = ("login",)
    home_paths = (".codex",)
    idle_lines = re.compile(r'"type":\s*"error".*Reconnecting')
    api_url = "https://api.openai.com/v1"
    speaks_mcp = True

    def build(self, job: Job) -> Invocation:
        # the claim's MCP server for this run only (JSON strings and lists are TOML too)
        servers = () if not job.mcp else (
            "-c", f"mcp_servers.{MCP_SERVER}.command={json.dumps(job.mcp[0])}",
            "-c", f"mcp_servers.{MCP_SERVER}.args={json.dumps(list(job.mcp[1:]))}",
        )  # fmt: skip
        argv = (
            *(self.command or ("codex",)),
            "exec",
            *servers,
            "--model",
            self.model,
            "--json",
            # design and review checkouts are not always the main repository
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--",  # a prompt starting with "-" stays the prompt
            job.prompt,
        )
        return Invocation(argv=argv, cwd=job.workdir, env=protocol_env(job), timeout=self.timeout)

    def endpoint(self, env: Mapping[str, str], home: Path | None) -> tuple[str, int] | None:
        """From the tool home's config.toml: the chosen provider's base_url, or
        openai_base_url, else the OpenAI API."""
        config: dict[str, Any] = {}
        if home is not None:
            with contextlib.suppress(OSError, ValueError):
                config = tomllib.loads((home / ".codex" / "config.toml").read_text())
        provider = field(config, "model_providers", str(config.get("model_provider")))
        url = field(provider, "base_url") or config.get("openai_base_url") or self.api_url
        return host_port(url) if isinstance(url, str) else None

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        turns = [e for e in json_lines(stdout) if e.get("type") == "turn.completed"]
        if not turns:
            return Usage()
        # one exec is one turn today; a resumed or multi-turn run reports each turn's own
        return Usage(
            input_tokens=total_count(count(field(t, "usage", "input_tokens")) for t in turns),
            output_tokens=total_count(count(field(t, "usage", "output_tokens")) for t in turns),
        )
