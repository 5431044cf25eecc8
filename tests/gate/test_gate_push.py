"""Real pushes into a hub bound to a real board: what the gate lets through and what not."""

from __future__ import annotations

from boardenv import must
from scenario import (
    DESIGNER,
    IMPLEMENTER,
    INTEGRATOR,
    MAIN,
    OTHER_IMPLEMENTER,
    REVIEWER,
    Project,
    git,
)

from ainarres.git.push import PushResult
from ainarres.models import Task

REFUSED_MAIN = "ainarres gate: refused refs/heads/main: "


def _claimed_task(proj: Project) -> tuple[Task, int]:
    task = must(proj.agent(DESIGNER).create_task("t").task)
    claim = proj.agent(IMPLEMENTER).claim_next()
    assert claim.ok and must(claim.task).id == task.id
    return task, must(claim.epoch)


def test_gate_lease_holder_pushes_its_task_branch(proj: Project) -> None:
    task, epoch = _claimed_task(proj)
    head = proj.commit_on(task.branch, "a.txt", "a\n")
    result = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    assert result.ok, result.remote_lines
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head


def test_gate_task_branch_push_by_another_family_is_refused(proj: Project) -> None:
    task, epoch = _claimed_task(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    before = proj.refs()
    result = proj.push(f"HEAD:refs/heads/{task.branch}", OTHER_IMPLEMENTER, epoch=epoch)
    assert not result.ok
    assert result.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: task {task.short_id} is held by "
        f"{IMPLEMENTER}, not by {OTHER_IMPLEMENTER}; claim the task with `ainarres next` "
        "before pushing its branch",
    )
    assert proj.refs() == before


def test_gate_zombie_with_a_stale_epoch_cannot_land_work(proj: Project) -> None:
    task, old_epoch = _claimed_task(proj)
    assert proj.board.expire_leases(task.id) == 1
    fresh = proj.agent(IMPLEMENTER, "a2").claim_next()
    assert fresh.epoch == old_epoch + 1
    proj.commit_on(task.branch, "zombie.txt", "late\n")
    before = proj.refs()
    result = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=old_epoch)
    assert result.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: claim epoch {old_epoch} for task "
        f"{task.short_id}, whose current epoch is {fresh.epoch} (a stale claim); drop this work: "
        "the task was claimed again after yours",
    )
    no_epoch = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER)
    assert "no claim epoch for task" in no_epoch.remote_lines[0]
    assert proj.refs() == before


def test_gate_unsigned_task_push_and_unknown_refs_are_refused(proj: Project) -> None:
    task, epoch = _claimed_task(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    before = proj.refs()
    unsigned = proj.push(f"HEAD:refs/heads/{task.branch}", None, epoch=epoch)
    assert unsigned.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: the push is not signed; the lease "
        "holder pushes its task branch signed (`ainarres push`)",
    )
    other = proj.push("HEAD:refs/heads/feature", IMPLEMENTER, epoch=epoch)
    assert other.remote_lines == (
        "ainarres gate: refused refs/heads/feature: the hub only holds refs/heads/main, "
        "refs/heads/task/<id> and review notes; push your work to the task branch of your claim",
    )
    tag = proj.push("HEAD:refs/tags/v1", IMPLEMENTER, epoch=epoch)
    assert "refused refs/tags/v1" in tag.remote_lines[0]
    unknown = proj.push("HEAD:refs/heads/task/000000000000", IMPLEMENTER, epoch=epoch)
    assert "no task on the board has branch task/000000000000" in unknown.remote_lines[0]
    assert proj.refs() == before


def test_gate_task_branch_is_frozen_outside_the_implement_stage(proj: Project) -> None:
    task, epoch = _claimed_task(proj)
    head = proj.commit_on(task.branch, "a.txt", "a\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch).ok
    proj.agent(IMPLEMENTER).advance(task.id, epoch, head)
    review = proj.agent(REVIEWER).claim_next()
    git(proj.clone, "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m", "sneak")
    result = proj.push(f"HEAD:refs/heads/{task.branch}", REVIEWER, epoch=review.epoch)
    assert result.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: task {task.short_id} is in stage "
        "review, which does not write its branch; only the implementing step pushes the task "
        "branch",
    )
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head


def test_gate_integrator_ships_an_approved_task(proj: Project) -> None:
    task, head, _ = proj.approved_task()
    merge = proj.merge_commit(head, task)
    result = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert result.ok, result.remote_lines
    assert proj.hub_ref(MAIN) == merge


def test_gate_main_refusals_each_say_why(proj: Project) -> None:
    task, head, _ = proj.approved_task()
    main = proj.hub_ref(MAIN)
    good = proj.merge_commit(head, task)
    cases: dict[str, tuple[PushResult, str | None]] = {
        "unsigned": (
            proj.push(f"{good}:{MAIN}", None),
            REFUSED_MAIN + "the push is not signed; only an integrator may update main, "
            "with a signed push (git push --signed)",
        ),
        "implementer key": (
            proj.push(f"{good}:{MAIN}", IMPLEMENTER),
            REFUSED_MAIN + f"signer {IMPLEMENTER} is not an integrator; push to "
            "refs/heads/task/<id> and let `ainarres integrate` merge it",
        ),
    }
    no_task = proj.merge_commit(head, None)
    cases["no trailer"] = (
        proj.push(f"{no_task}:{MAIN}", INTEGRATOR),
        REFUSED_MAIN + f"commit {no_task[:12]} names no task (Ainarres-Task "
        "trailer); only `ainarres integrate` moves main, one merge per "
        "approved task",
    )
    git(proj.clone, "checkout", "--quiet", "--detach", head)
    other = git(
        proj.clone, "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m", "x"
    ) or git(proj.clone, "rev-parse", "HEAD")
    moved = proj.merge_commit(other, task)
    cases["moved head"] = (
        proj.push(f"{moved}:{MAIN}", INTEGRATOR),
        REFUSED_MAIN + f"commit {moved[:12]} merges {other[:12]} but task "
        f"…{str(task).replace('-', '')[-4:]} was approved at {head[:12]}; merge "
        "exactly the reviewed head commit; a moved branch needs a new review",
    )
    cases["plain commit"] = (
        proj.push(f"{head}:{MAIN}", INTEGRATOR),
        REFUSED_MAIN + f"commit {head[:12]} is not a merge onto the previous "
        "main; only `ainarres integrate` moves main, one merge per approved "
        "task",
    )
    cases["delete"] = (proj.push(f":{MAIN}", INTEGRATOR), None)
    for name, (result, line) in cases.items():
        assert not result.ok, name
        if line is not None:
            assert result.remote_lines == (line,), name
    assert proj.hub_ref(MAIN) == main


def test_gate_integration_needs_the_integrators_claim_and_role(proj: Project) -> None:
    task, head, epoch = proj.approved_task()
    merge = proj.merge_commit(head, task)
    with proj.board.operator() as conn:
        from ainarres.board import admin

        admin.deny(conn, INTEGRATOR, "integrator", "demoted for the test")
    denied = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert denied.remote_lines == (
        REFUSED_MAIN + f"signer {INTEGRATOR} is not an integrator; "
        "push to refs/heads/task/<id> and let `ainarres integrate` "
        "merge it",
    )
    with proj.board.operator() as conn:
        from ainarres.board import admin

        admin.lift(conn, INTEGRATOR, "integrator", "restored")
    proj.agent(INTEGRATOR).release(task, epoch)
    unclaimed = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert unclaimed.remote_lines[0].endswith(
        f"is not claimed by {INTEGRATOR} with a live lease; claim the integration step on the "
        "board before pushing"
    )
    assert proj.hub_ref(MAIN) != merge
