"""The canary service killed while it plants a seeded round (SIGKILL at a failpoint, as a
power cut would): the round stays held, so no reviewer sees it half planted, and the next
pass finishes it with the very same seeded commit (ADR 0018: every step is safe to repeat).
"""

from __future__ import annotations

import signal

import pytest
from scenario import REVIEWER, Project
from test_canary_round import canaries, implement, seed_for, set_rate, show


@pytest.mark.parametrize("point", ["canary-after-plan", "canary-after-move"])
def test_a_service_killed_mid_plant_leaves_the_round_held_and_the_next_pass_finishes_it(
    proj: Project, point: str
) -> None:
    set_rate(proj, 0.5)
    task, real = implement(proj)
    set_rate(proj, 0.5, seed_for(proj, task, [True]))
    branch = f"refs/heads/{show(proj, task).branch}"
    killed = proj.board.run("canary", "run", "--once", env={"AINARRES_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [planned] = canaries(proj)
    seeded = planned["seeded_head"]
    assert planned["state"] == "planting" and planned["real_head"] == real
    # killed before or after the branch moved: either way the round is still held
    assert proj.hub_ref(branch) == (real if point == "canary-after-plan" else seeded)
    reviewer = proj.agent(REVIEWER)
    assert reviewer.claim_next().outcome == "empty"

    again = proj.board.run("canary", "run", "--once")
    assert again.returncode == 0, again.stderr
    assert "planted (resumed)" in again.stdout, again.stdout
    [live] = canaries(proj)
    assert (live["state"], live["seeded_head"]) == ("live", seeded)
    assert proj.hub_ref(branch) == seeded
    claim = reviewer.claim_next()
    assert claim.ok and claim.task is not None and claim.task.head_commit == seeded
