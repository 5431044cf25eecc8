"""Leases: heartbeats keep a task, silence loses it, fencing refuses the zombie, attempts block."""

from __future__ import annotations

from uuid import UUID

from boardenv import BoardEnv, must, rows


def _setup(board: BoardEnv, lease_seconds: int = 600, max_attempts: int = 3) -> UUID:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    with board.operator() as conn:
        conn.execute(
            b"UPDATE ainarres.stages SET lease_seconds = %s, max_attempts = %s "
            b"WHERE name = 'implement'",
            (lease_seconds, max_attempts),
        )
    return must(board.agent("claude-code+opus").create_task("t").task).id


def test_lease_silent_agent_loses_task_and_its_late_done_is_refused(board: BoardEnv) -> None:
    task = _setup(board)
    zombie, other = board.agent("opencode+qwen", "zombie"), board.agent("opencode+qwen", "other")
    first = zombie.claim_next()
    assert other.claim_next().outcome == "empty"  # the lease is live
    assert board.expire_leases(task) == 1
    second = other.claim_next()
    assert must(second.task).id == task and second.epoch == must(first.epoch) + 1
    assert must(second.task).attempts == 1
    before = board.snapshot()
    late = zombie.advance(task, must(first.epoch), "c" * 40)
    assert late.outcome == "lease_lost"
    assert "reclaimed by another agent" in late.message
    assert zombie.heartbeat(task, must(first.epoch)).outcome == "lease_lost"
    assert zombie.note(task, must(first.epoch), "still here").outcome == "lease_lost"
    assert board.snapshot() == before
    assert must(other.advance(task, second.epoch).task).stage == "review"


def test_lease_heartbeat_keeps_the_task(board: BoardEnv) -> None:
    task = _setup(board, lease_seconds=60)
    holder, other = board.agent("opencode+qwen", "h"), board.agent("opencode+qwen", "o")
    claim = holder.claim_next()
    for _ in range(3):  # 120 s in all: without its heartbeats the lease ends in the second
        board.expire_leases(task, by=40)
        assert holder.heartbeat(task, must(claim.epoch)).ok
        assert other.claim_next().outcome == "empty"
    assert holder.advance(task, must(claim.epoch)).ok


def test_lease_expired_without_reclaim_is_still_lost(board: BoardEnv) -> None:
    task = _setup(board)
    holder = board.agent("opencode+qwen")
    claim = holder.claim_next()
    board.expire_leases(task)
    assert holder.advance(task, must(claim.epoch)).outcome == "lease_lost"


def test_lease_max_attempts_blocks_the_task_for_a_person(board: BoardEnv) -> None:
    task = _setup(board, max_attempts=2)
    agent = board.agent("opencode+qwen")
    assert must(agent.claim_next().task).id == task
    board.expire_leases(task)
    assert must(agent.claim_next().task).attempts == 1  # reclaimed after one expiry
    board.expire_leases(task)
    assert agent.claim_next().outcome == "empty"  # second expiry reaches max: blocked
    with board.operator() as conn:
        t = rows(
            conn,
            "SELECT blocked, blocked_reason, holder_agent, attempts "
            "FROM ainarres.tasks WHERE id = %s",
            task,
        )[0]
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task
            )
        ]
    assert t["blocked"] and t["holder_agent"] is None and t["attempts"] == 2
    assert "2 leases expired in stage implement (max 2)" in t["blocked_reason"]
    assert kinds[-5:] == ["claimed", "lease_expired", "claimed", "lease_expired", "blocked"]


def test_lease_verb_on_a_task_someone_else_holds_is_not_allowed(board: BoardEnv) -> None:
    task = _setup(board, lease_seconds=60)
    holder, intruder = board.agent("opencode+qwen", "h"), board.agent("opencode+qwen", "i")
    claim = holder.claim_next()
    before = board.snapshot()
    for out in (
        intruder.advance(task, must(claim.epoch)),
        intruder.release(task, must(claim.epoch)),
        intruder.block(task, must(claim.epoch), "x"),
        intruder.heartbeat(task, must(claim.epoch)),
    ):
        assert out.outcome == "not_allowed", out
    assert board.snapshot() == before
