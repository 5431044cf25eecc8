"""Running a script inside the agent sandbox exactly as the runner runs a tool, for the
red-team tests (tests/security/test_sandbox.py and others that probe from inside)."""

from __future__ import annotations

import json
import subprocess
import sys

from scenario import DESIGNER, IMPLEMENTER, Project

from ainarres.agents import jobs, sandbox
from ainarres.agents.runner import tool_mounts


def in_sandbox(proj: Project, script: str, *args: str) -> dict[str, str]:
    """Claim a task, prepare its job as the runner does and run `script` (Python) in the
    sandbox; it prints a JSON object of attempt -> outcome."""
    proj.agent(DESIGNER).create_task("t")
    agent = proj.agent(IMPLEMENTER, "tool-owner")
    out = agent.claim_next()
    assert out.task is not None and out.epoch is not None
    claim = jobs.Claimed(out.task, out.epoch, "implementer")
    with jobs.prepared(proj.board.settings, agent, claim) as prep:
        env = sandbox.tool_env((), {"AINARRES_JOB_DIR": str(prep.job.job_dir)})
        mounts = tool_mounts(prep)
        argv = sandbox.wrap([sys.executable, "-c", script, *args], mounts, prep.job.workdir, env)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


ATTEMPT = r"""
import json, os, socket, subprocess, sys
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "SUCCEEDED"
    except Exception as exc:
        out[name] = type(exc).__name__
"""
