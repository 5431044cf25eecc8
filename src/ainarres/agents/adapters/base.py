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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

JobRole = Literal["designer", "implementer", "reviewer"]


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


@dataclass(frozen=True)
class Invocation:
    """Exactly what to run."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)  # added to the passed-through env
    stdin: str | None = None
    timeout: float = 1800.0


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


class Adapter:
    """Base class: one per tool. Subclasses set `name` and implement `build` (and `usage`)."""

    name: ClassVar[str] = ""
    #: environment variables the tool needs from the person's environment (API keys)
    passthrough_env: ClassVar[tuple[str, ...]] = ()
    #: the tool's own config and login folders, relative to the person's home; each that
    #: exists is bound (writable) at the same place under the sandbox's home
    home_paths: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, model: str, timeout: float = 1800.0, command: Sequence[str] | None = None
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.command = tuple(command) if command else ()

    def build(self, job: Job) -> Invocation:
        raise NotImplementedError

    def usage(self, stdout: str, stderr: str) -> Usage:
        """Parse tokens/cost from the tool's output; the default knows nothing."""
        del stdout, stderr
        return Usage()

    @property
    def real_tool(self) -> bool:
        """A real agent tool (refuses to run unsandboxed unless the person opts out)."""
        return True
