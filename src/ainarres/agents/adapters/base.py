"""The contract between the runner and an adapter.

The runner prepares a job folder and a working directory, the adapter turns that into a
command line, the runner runs it (in the sandbox), then reads the job's result file.

The protocol every tool follows, whoever drives it:
- cwd is the working directory: the task's worktree (implement), a checkout of the
  reviewed head (review), or a checkout of main (design);
- the job folder (`$AINARRES_JOB_DIR`) holds `job.json` (what to do), for a review also
  `diff.json` (schema ainarres.review/1) and `diff.txt`, and `prompt.txt` (the same job
  in words, for a model);
- an implementer edits files in cwd (the runner commits and pushes them);
- a designer writes `result.json`: {"tasks": [{"title", "body", "depends_on": [indexes]}]};
- a reviewer writes `result.json`: {"verdict": "approve" | "return", "reason": "...",
  "annotations": [{"file", "line", "side", "severity", "body"}]}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from ainarres.roles import AgentRole

JobRole = AgentRole  # the roles a tool's job takes (the integrator's is a person's)


@dataclass(frozen=True)
class Job:
    """What the runner asks of a tool for one claimed task."""

    role: JobRole
    task_id: str
    short_id: str
    title: str
    body: str
    workdir: Path
    job_dir: Path
    prompt: str  # the whole job in words, also written to job_dir/prompt.txt
    #: the command that starts the claim's own MCP server inside the sandbox (stdio; see
    #: agents/claim_mcp.py), for the adapter to put in its tool's MCP configuration as the
    #: server `ainarres`; empty when the claim has none or the tool speaks no MCP
    mcp: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """Exactly what to run."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)  # added to the passed-through env
    stdin: str | None = None
    timeout: float = 1800.0
    #: files the runner writes into the job folder before the run, by plain name (a tool's
    #: settings for this job only, as its MCP servers)
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Tokens and cost as the tool reported them (None where it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


Version = tuple[int, ...]


class Adapter:
    """Base class: one per tool. Subclasses set `name` and implement `build` (and `usage`).

    Besides the command line, an adapter says what the preflight (`agents/preflight.py`)
    checks and what the runner needs to know of its tool: where it comes from, which
    versions are driven, how it is logged in, what it leaves behind in its working folder,
    and which of its output lines are no progress (retries while the model is away).
    """

    name: ClassVar[str] = ""
    #: the program run when the family's config names no command
    binary: ClassVar[str] = ""
    #: how a person installs the version this adapter drives
    install: ClassVar[str] = ""
    #: the versions driven: [lowest, first not driven); None: the tool's version is not
    #: checked (see `identify`)
    versions: ClassVar[tuple[Version, Version] | None] = None
    #: environment variables the tool needs from the person's environment (API keys)
    passthrough_env: ClassVar[tuple[str, ...]] = ()
    #: the variables any one of which is a key the tool can use (empty: none needed)
    key_env: ClassVar[tuple[str, ...]] = ()
    #: files in the family's tool home that show the tool is logged in instead
    login_files: ClassVar[tuple[str, ...]] = ()
    #: arguments of the tool's own login command (`ainarres agent login`); None: it has
    #: none, its keys come from the environment
    login_args: ClassVar[tuple[str, ...] | None] = None
    #: the tool's own config and login files, relative to a home: what `agent login
    #: --copy-home` copies from the person's home into the family's tool home
    home_paths: ClassVar[tuple[str, ...]] = ()
    #: environment the tool gets only inside ainarres's sandbox
    sandbox_env: ClassVar[Mapping[str, str]] = {}
    #: what the tool writes into its working folder for itself (settings, caches): removed
    #: after the run when the run made it, so it is not committed as work
    litter: ClassVar[tuple[str, ...]] = ()
    #: the tool stages files with git itself (aider `git add`s what it creates): the runner
    #: gives it an index and an object folder of its own in the job folder, over the
    #: worktree's git data, which the sandbox shows read-only
    own_git_index: ClassVar[bool] = False
    #: whether the tool prints as it works; if not, only the timeout bounds a run
    prints_progress: ClassVar[bool] = True
    #: output lines that are no progress: retries and reconnects while the model is away
    idle_lines: ClassVar[re.Pattern[str] | None] = None
    #: the model API's default address, and the variables that override it
    api_url: ClassVar[str | None] = None
    api_url_env: ClassVar[tuple[str, ...]] = ()
    #: the adapter wires the claim's MCP endpoint (`Job.mcp`) into its tool, and the
    #: prompt then says to use it; the result file stays the fallback either way
    speaks_mcp: ClassVar[bool] = False

    def __init__(
        self, model: str, timeout: float = 1800.0, command: Sequence[str] | None = None
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.command = tuple(command) if command else ()

    @property
    def program(self) -> str:
        """What runs: the configured command's program, or the tool's own binary."""
        return self.command[0] if self.command else self.binary

    def build(self, job: Job) -> Invocation:
        raise NotImplementedError

    def is_progress(self, line: str) -> bool:
        """Whether an output line shows the tool at work (not retrying a lost model)."""
        return self.idle_lines is None or self.idle_lines.search(line) is None

    def identify(self, help_text: str) -> str | None:
        """None if `program --help` shows the tool this adapter drives; else why not."""
        del help_text
        return None

    def endpoint(self, env: Mapping[str, str], home: Path | None) -> tuple[str, int] | None:
        """The model API's host and port the tool will call, where it can be known."""
        del home
        url = next((env[k] for k in self.api_url_env if env.get(k)), self.api_url)
        return host_port(url) if url else None

    def usage(self, stdout: str, stderr: str) -> Usage:
        """Parse tokens/cost from the tool's output; the default knows nothing."""
        del stdout, stderr
        return Usage()

    @property
    def real_tool(self) -> bool:
        """A real agent tool (refuses to run unsandboxed unless the person opts out)."""
        return True


def host_port(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, or None if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def parse_version(text: str) -> Version | None:
    """The first dotted version number in a tool's `--version` output."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if found is None:
        return None
    return tuple(int(g) for g in found.groups() if g is not None)


def show_version(version: Version) -> str:
    return ".".join(str(n) for n in version)
