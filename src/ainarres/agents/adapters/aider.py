"""Aider, run as a one-shot script (`aider --message`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ainarres.agents.adapters._common import protocol_env
from ainarres.agents.adapters.base import Adapter, Invocation, Job, Usage, host_port

# "Tokens: 12k sent, 1.1k cache write, 3.4k cache hit, 215 received." at the start of a line;
# \s+ rather than spaces, because a non-terminal console may wrap the line
_TOKENS = re.compile(
    r"^Tokens:\s+(?P<sent>\d+(?:\.\d+)?[kM]?)\s+sent,"
    r"(?:\s+\d+(?:\.\d+)?[kM]?\s+cache\s+write,)?"
    r"(?:\s+\d+(?:\.\d+)?[kM]?\s+cache\s+hit,)?"
    r"\s+(?P<received>\d+(?:\.\d+)?[kM]?)\s+received\.",
    re.MULTILINE,
)
# "Cost: $0.0123 message, $0.0456 session." (follows the tokens, same line or wrapped)
_COST = re.compile(
    r"Cost:\s+\$(?P<message>\d+(?:\.\d+)?)\s+message,\s+\$(?P<session>\d+(?:\.\d+)?)\s+session\."
)
_SCALE = {"k": 1_000, "M": 1_000_000}
#: a git identity aider finds without writing the repository's config (see below)
_GIT_IDENTITY = {
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "user.name",
    "GIT_CONFIG_VALUE_0": "aider (ainarres)",
    "GIT_CONFIG_KEY_1": "user.email",
    "GIT_CONFIG_VALUE_1": "aider@ainarres.invalid",
}


# Based on (knowledge as of 2026-11-25):
# - "Scripting aider", https://aider.chat/docs/scripting.html: `--message` ("do that one
#   thing, apply the edits to the files and then exit"), `--no-stream`, `--no-auto-commits`,
#   `--no-dirty-commits`.
# - "Options reference", https://aider.chat/docs/config/options.html: `--model`,
#   `--yes-always`, `--pretty/--no-pretty`, `--input-history-file`, `--chat-history-file`;
#   `--gitignore/--no-gitignore` (Aider-AI/aider issue #3716, v0.80.1).
# - Aider-AI/aider aider/coders/base_coder.py: after each model call it prints
#   "Tokens: {sent} sent[, {n} cache write][, {n} cache hit], {received} received." and,
#   when the model has a price, "Cost: ${message} message, ${session} session.";
#   aider/utils.py format_tokens: below 1000 as is, below 10000 "%.1fk", else "%dk"
#   (rounded). `--yes-always` still answers no to running shell commands
#   (explicit_yes_required), so aider cannot run tests unattended.
# Tried (2026-11-29, tests/tools) with aider-chat 0.86.2 (pip, in a venv of its own):
# - at start it checks PyPI for a newer version, may show release notes, asks about
#   analytics, and litellm downloads its model price list from GitHub:
#   `--no-check-update --no-show-release-notes --analytics-disable` and
#   LITELLM_LOCAL_MODEL_COST_MAP=True stop those; aider's own copy of that price list is
#   fetched once a day into ~/.aider/caches (the family's tool home keeps it; a failed
#   fetch is cached as empty);
# - it keeps its repository map cache in `.aider.tags.cache.v4/` in the working folder:
#   removed after the run when the run made it;
# - with no git identity configured it writes "Your Name" into the repository's config,
#   which the sandbox shows read-only: it crashes ("Read-only file system: .git/config.lock",
#   exit 1). The identity is given in the environment (GIT_CONFIG_COUNT, git >= 2.31),
#   which `git config --get` reads; its commits are off anyway, the runner commits;
# - it `git add`s every file it creates, which fails on the read-only git data ("Unable to
#   create .../index.lock"), and the edit is dropped: the runner gives it an index and an
#   object folder of its own (`own_git_index`);
# - with OPENAI_API_BASE (litellm) an `openai/MODEL` talks to any Chat Completions API;
#   with the model away litellm retries and aider prints "Retrying in N seconds...".
class AiderAdapter(Adapter):
    """Aider with one message, answering yes to file edits, never committing.

    Aider has no read-only mode that could still write result.json (`--chat-mode ask` edits
    nothing), so a designer or reviewer runs like an implementer. Aider edits only files it
    is given or creates, relative to the repository; whether it will create result.json in
    $AINARRES_JOB_DIR, outside the repository, is unverified, so aider is best kept to the
    implementer role. The runner's sandbox protects the worktree.
    """

    name = "aider"
    binary = "aider"
    install = "python3 -m pip install 'aider-chat==0.86.*' (in a venv of its own, or pipx)"
    versions = ((0, 80), (1, 0))
    litter = (".aider.tags.cache.v4",)
    own_git_index = True
    idle_lines = re.compile(r"Retrying in [\d.]+ seconds|APIConnectionError")
    # aider reaches every provider through litellm, each with its usual key
    passthrough_env = (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "XAI_API_KEY",
        "GROQ_API_KEY",
    )
    key_env = passthrough_env
    home_paths = (".aider",)

    def build(self, job: Job) -> Invocation:
        argv = (
            *(self.command or ("aider",)),
            "--model",
            self.model,
            "--message",
            job.prompt,
            "--yes-always",
            "--no-auto-commits",  # the runner commits and pushes
            "--no-dirty-commits",
            "--no-stream",
            "--no-pretty",  # plain text for the usage lines
            "--no-gitignore",  # else aider adds .aider* to the worktree's .gitignore
            # keep aider's histories out of the worktree, which the runner commits
            "--input-history-file",
            str(job.job_dir / "aider.input.history"),
            "--chat-history-file",
            str(job.job_dir / "aider.chat.history.md"),
            # no calls out but to the model
            "--no-check-update",
            "--no-show-release-notes",
            "--analytics-disable",
        )
        env = {**protocol_env(job), "LITELLM_LOCAL_MODEL_COST_MAP": "True", **_GIT_IDENTITY}
        return Invocation(argv=argv, cwd=job.workdir, env=env, timeout=self.timeout)

    def endpoint(self, env: Mapping[str, str], home: Path | None) -> tuple[str, int] | None:
        """Where litellm sends the model's calls, by the model's provider prefix."""
        del home
        provider = self.model.partition("/")[0] if "/" in self.model else ""
        overrides = {"openai": ("OPENAI_API_BASE", "OPENAI_BASE_URL"),
                     "anthropic": ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")}  # fmt: skip
        url = next((env[k] for k in overrides.get(provider, ()) if env.get(k)), None)
        return host_port(url) if url else None

    def usage(self, stdout: str, stderr: str) -> Usage:
        del stderr
        calls = list(_TOKENS.finditer(stdout))
        if not calls:
            return Usage()
        # a message may take several model calls (reflections), each reporting its own tokens
        sent = sum(_tokens(m["sent"]) for m in calls)
        received = sum(_tokens(m["received"]) for m in calls)
        # the session cost is cumulative: the last report, after the first tokens line so that
        # an echoed prompt cannot supply it
        costs = list(_COST.finditer(stdout, calls[0].start()))
        cost = float(costs[-1]["session"]) if costs else None
        return Usage(input_tokens=sent, output_tokens=received, cost_usd=cost)


def _tokens(text: str) -> int:
    """Aider's rounded count ("215", "2.4k", "12k") as a number of tokens."""
    scale = _SCALE.get(text[-1], 1)
    number = text[:-1] if scale != 1 else text
    return round(float(number) * scale)
