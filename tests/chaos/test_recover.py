"""Resume, don't strand: leases that fit the work, one integrate at a time, and
governance that blames a family only for what it did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from agentrun import agent_argv, script_config
from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, OTHER_IMPLEMENTER, Project, git

from ainarres.agents.runner import RUNNER_LEASE


def test_a_runner_claim_lasts_a_heartbeat_window_and_a_cli_claim_the_stage_lease(
    proj: Project,
) -> None:
    first = must(proj.agent(DESIGNER).create_task("a").task)
    second = must(proj.agent(DESIGNER).create_task("b").task)
    agent = proj.agent(IMPLEMENTER)
    runner_claim = agent.claim_next("implementer", lease_seconds=RUNNER_LEASE)
    cli_claim = agent.claim_next("implementer")
    assert runner_claim.task is not None and cli_claim.task is not None
    assert {runner_claim.task.id, cli_claim.task.id} == {first.id, second.id}
    runner_until = must(runner_claim.task.lease_expires_at)
    cli_until = must(cli_claim.task.lease_expires_at)
    left = runner_until - datetime.now(runner_until.tzinfo)
    assert timedelta(seconds=RUNNER_LEASE - 5) < left <= timedelta(seconds=RUNNER_LEASE)
    assert cli_until - runner_until > timedelta(minutes=20)
    beat = agent.heartbeat(runner_claim.task.id, runner_claim.epoch or 0)
    assert beat.task is not None and beat.task.lease_expires_at is not None
    again = beat.task.lease_expires_at - datetime.now(beat.task.lease_expires_at.tzinfo)
    assert again <= timedelta(seconds=RUNNER_LEASE)  # a heartbeat extends by the claim's lease


def _expire(proj: Project, task: object, *, seen_after: bool) -> None:
    """The holder's lease ran out; its agent was last seen before that, or after it."""
    seen = "now()" if seen_after else "now() - interval '1 minute'"
    with proj.board.operator() as conn:
        conn.execute(
            f"UPDATE ainarres.agents SET last_seen_at = {seen} WHERE id = (SELECT holder_agent "
            "FROM ainarres.tasks WHERE id = %s)".encode(),
            (task,),
        )
        conn.execute(
            b"UPDATE ainarres.tasks SET lease_expires_at = now() - interval '30 seconds' "
            b"WHERE id = %s",
            (task,),
        )


def _denied(proj: Project, family: str) -> list[str]:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT d.reason FROM ainarres.denials d JOIN ainarres.families f ON f.id = "
            "d.family_id WHERE f.name = %s AND d.lifted_at IS NULL",
            family,
        )
    return [r["reason"] for r in got]


def test_leases_lost_by_dead_agents_do_not_demote_a_family(proj: Project) -> None:
    """Three SIGKILLed implementers (or a database restart with three busy ones) used to
    demote the family for abandoning. An agent that went silent is not blamed."""
    designer, rescuer = proj.agent(DESIGNER), proj.agent(OTHER_IMPLEMENTER)
    for i in range(3):
        task = must(designer.create_task(f"dies {i}").task)
        assert proj.agent(IMPLEMENTER, f"dies-{i}").claim_next().ok
        _expire(proj, task.id, seen_after=False)
        assert rescuer.claim_next().ok  # reclaims it: lease_expired
    assert _denied(proj, IMPLEMENTER) == []


def test_leases_let_lapse_by_a_live_agent_still_demote(proj: Project) -> None:
    designer, rescuer = proj.agent(DESIGNER), proj.agent(OTHER_IMPLEMENTER)
    for i in range(3):
        task = must(designer.create_task(f"lapses {i}").task)
        assert proj.agent(IMPLEMENTER, "sloppy").claim_next().ok
        _expire(proj, task.id, seen_after=True)
        assert rescuer.claim_next().ok
    [reason] = _denied(proj, IMPLEMENTER)
    assert reason.startswith("policy implementer-abandons: abandoned = 3 >= 3")


def test_a_restarted_agent_takes_back_even_its_expired_claims_and_lets_them_go(
    proj: Project,
) -> None:
    task = must(proj.agent(DESIGNER).create_task("expired, not reclaimed").task)
    first = proj.agent(IMPLEMENTER, "same-name")
    assert first.claim_next().ok
    _expire(proj, task.id, seen_after=False)
    again = proj.agent(IMPLEMENTER, "same-name")  # the restarted process
    held = again.resume().held or []
    assert [h.task.id for h in held] == [task.id]
    assert again.release(task.id, held[0].epoch).ok
    with proj.board.operator() as conn:
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task.id
            )
        ]
    assert "lease_expired" not in kinds and kinds[-1] == "released"


def _slow_checks(proj: Project, seconds: float) -> None:
    """Main's checks take a while (as an admin would set them, past the gate)."""
    git(proj.clone, "fetch", "--quiet", "origin")
    git(proj.clone, "checkout", "--quiet", "--detach", "origin/main")
    (proj.clone / "ainarres.toml").write_text(f'[checks]\ntest = "sleep {seconds}"\n')
    git(proj.clone, "commit", "--quiet", "--no-gpg-sign", "-am", "slow checks")
    git(proj.hub, "fetch", "--quiet", str(proj.clone), f"+HEAD:{MAIN}")


def _integrate(proj: Project) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AINARRES_HOME": str(proj.board.settings.state_dir),
        "AINARRES_DATABASE_URL": proj.board.url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ainarres", "integrate", "--family", INTEGRATOR],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_run(proj: Project) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with proj.board.operator() as conn:
            if rows(conn, "SELECT pid FROM ainarres.integration_run"):
                return
        time.sleep(0.1)
    raise AssertionError("integrate never started its run")


def test_only_one_integrate_runs_and_a_dead_one_is_taken_over(proj: Project) -> None:
    _slow_checks(proj, 3)
    proj.approved_task("one.txt", claim=False)
    first = _integrate(proj)
    _wait_for_run(proj)
    before = proj.board.snapshot()
    second = proj.board.run("integrate", "--family", INTEGRATOR)
    assert second.returncode == 1
    assert f"another integrate (pid {first.pid} on " in second.stderr
    assert proj.board.snapshot()["tasks"] == before["tasks"]
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    third = proj.board.run("integrate", "--family", INTEGRATOR)
    assert third.returncode == 0, third.stderr
    assert f"took over from a dead integrate (pid {first.pid})" in third.stderr + third.stdout
    assert "1 shipped" in third.stdout


def _script_config(tmp_path: Path, body: str, maker: str | None = None) -> Path:
    return script_config(tmp_path, {IMPLEMENTER: "implementer"}, body, maker=maker)


def test_a_denied_runner_waits_for_the_denial_to_heal_then_works(
    proj: Project, tmp_path: Path
) -> None:
    cfg = _script_config(tmp_path, "import pathlib; pathlib.Path('w.txt').write_text('w')\n")
    with proj.board.operator() as conn:
        conn.execute(
            b"INSERT INTO ainarres.denials (family_id, role, reason, expires_at, created_by) "
            b"SELECT id, 'implementer', 'a short denial', now() + interval '1 hour', 'test' "
            b"FROM ainarres.families WHERE name = %s",
            (IMPLEMENTER,),
        )
    task = must(proj.agent(DESIGNER).create_task("after the denial").task)
    argv, env = agent_argv(proj.board, cfg, IMPLEMENTER, "--max-tasks", "1", "--poll", "0.5")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    said = []
    try:
        for line in proc.stdout:  # denied: it says so and waits, whatever the machine's load
            said.append(line)
            if "waiting until it may work" in line:
                break
        assert "waiting until it may work" in said[-1], said
        with proj.board.operator() as conn:  # nothing claimed; then the denial runs out
            held = conn.execute(b"SELECT holder_agent FROM ainarres.tasks WHERE id = %s",
                                (task.id,)).fetchone()  # fmt: skip
            assert held is not None and held["holder_agent"] is None
            conn.execute(b"UPDATE ainarres.denials SET expires_at = now()")
        said += proc.stdout.readlines()
        assert proc.wait(timeout=60) == 0, said
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert any(f"{task.short_id} ok" in line for line in said), said


def test_a_runner_refuses_a_config_whose_maker_disagrees_with_the_board(
    proj: Project, tmp_path: Path
) -> None:
    cfg = _script_config(tmp_path, "pass\n", maker="anthropic")  # the board says alibaba
    done = proj.board.run(
        "agent", "run", "--family", IMPLEMENTER, "--config", str(cfg), "--max-tasks", "1"
    )
    assert done.returncode == 2
    assert "maker is anthropic, the board says alibaba" in done.stderr
