"""The `script` adapter: run any command with the job protocol. Tests and the demo use it
to drive deterministic agents, since no model is reachable here."""

from __future__ import annotations

from ainarres.agents.adapters.base import Adapter, Invocation, Job
from ainarres.errors import BadInput


class ScriptAdapter(Adapter):
    name = "script"

    def build(self, job: Job) -> Invocation:
        if not self.command:
            raise BadInput("the script adapter needs a command (command = [...] in ainarres.toml)")
        return Invocation(
            argv=(*self.command, job.role),
            cwd=job.workdir,
            env={"AINARRES_JOB_DIR": str(job.job_dir), "AINARRES_ROLE": job.role},
            timeout=self.timeout,
        )

    @property
    def real_tool(self) -> bool:
        return False
