"""OpenAI's Codex CLI, run non-interactively (`codex exec`)."""

from __future__ import annotations

from ainarres.agents.adapters._common import count, field, json_lines, protocol_env, total_count
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage


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
    # CODEX_API_KEY is read by `codex exec` only; OPENAI_API_KEY by the API-key login
    passthrough_env = ("OPENAI_API_KEY", "CODEX_API_KEY")
    home_paths = (".codex",)

    def build(self, job: Job) -> Invocation:
        argv = (
            *(self.command or ("codex",)),
            "exec",
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
