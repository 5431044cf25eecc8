"""The verbs against a real server: claim, advance, return, release, block, dependencies."""

from __future__ import annotations

from boardenv import BoardEnv, must, rows


def _wire(board: BoardEnv) -> None:
    board.add_family("claude-code+opus", "designer")
    board.add_family("opencode+qwen", "implementer")
    board.add_family("grok+grok-build", "reviewer")
    board.add_family("person+integrator", "integrator")


def test_verbs_walk_a_task_from_brief_to_shipped(board: BoardEnv) -> None:
    _wire(board)
    brief = board.brief("Add word statistics")
    designer = board.agent("claude-code+opus")
    got = designer.claim_next()
    assert (got.outcome, got.role, must(got.task).id, got.epoch) == ("ok", "designer", brief.id, 1)
    made = designer.create_task("count words", "body", parent=brief.id)
    assert made.ok and must(made.task).stage == "implement"
    assert must(designer.advance(brief.id, 1).task).stage == "designed"

    implementer, reviewer = board.agent("opencode+qwen"), board.agent("grok+grok-build")
    integrator = board.agent("person+integrator")
    task = must(made.task).id
    claim = implementer.claim_next()
    assert must(claim.task).id == task and claim.role == "implementer"
    assert must(implementer.advance(task, must(claim.epoch), "a" * 40).task).stage == "review"
    claim = reviewer.claim_next()
    returned = reviewer.return_task(task, must(claim.epoch), "tests are missing")
    assert returned.ok and must(returned.task).stage == "implement"
    claim = implementer.claim_next()
    assert must(claim.task).id == task and claim.epoch == 3
    implementer.advance(task, claim.epoch, "b" * 40)
    claim = reviewer.claim_next()
    assert must(reviewer.advance(task, must(claim.epoch)).task).stage == "integrate"
    claim = integrator.claim_next()
    shipped = integrator.advance(task, must(claim.epoch))
    assert must(shipped.task).stage == "shipped" and not must(shipped.task).open
    assert must(shipped.task).head_commit == "b" * 40
    with board.operator() as conn:
        kinds = [
            r["kind"]
            for r in rows(
                conn, "SELECT kind FROM ainarres.events WHERE task_id = %s ORDER BY id", task
            )
        ]
    assert kinds == [
        "created",
        "claimed",
        "advanced",
        "claimed",
        "returned",
        "claimed",
        "advanced",
        "claimed",
        "advanced",
        "claimed",
        "advanced",
    ]


def test_claim_next_orders_by_priority_then_age(board: BoardEnv) -> None:
    _wire(board)
    designer = board.agent("claude-code+opus")
    low = must(designer.create_task("low", priority=-5).task).id
    first = must(designer.create_task("first of two at 0").task).id
    high = must(designer.create_task("high", priority=10).task).id
    second = must(designer.create_task("second of two at 0").task).id
    implementer = board.agent("opencode+qwen")
    order = [must(implementer.claim_next().task).id for _ in range(4)]
    assert order == [high, first, second, low]
    assert implementer.claim_next().outcome == "empty"


def test_claim_next_waits_for_dependencies_to_ship(board: BoardEnv) -> None:
    _wire(board)
    designer = board.agent("claude-code+opus")
    base = must(designer.create_task("base").task).id
    dependent = must(designer.create_task("dependent", priority=100, depends_on=[base]).task).id
    implementer = board.agent("opencode+qwen")
    claim = implementer.claim_next()
    assert must(claim.task).id == base  # the dependent has higher priority but is not ready
    assert implementer.claim_next().outcome == "empty"
    implementer.advance(base, must(claim.epoch))
    reviewer, integrator = board.agent("grok+grok-build"), board.agent("person+integrator")
    c = reviewer.claim_next()
    reviewer.advance(base, must(c.epoch))
    assert implementer.claim_next().outcome == "empty"  # reviewed is not shipped
    c = integrator.claim_next()
    integrator.advance(base, must(c.epoch))
    assert must(implementer.claim_next().task).id == dependent


def test_release_returns_the_task_to_the_queue_unchanged(board: BoardEnv) -> None:
    _wire(board)
    task = must(board.agent("claude-code+opus").create_task("t").task).id
    a, b = board.agent("opencode+qwen", "a"), board.agent("opencode+qwen", "b")
    claim = a.claim_next()
    assert b.claim_next().outcome == "empty"
    assert a.release(task, must(claim.epoch)).ok
    again = b.claim_next()
    assert must(again.task).id == task and again.epoch == must(claim.epoch) + 1
    assert must(again.task).stage == "implement" and must(again.task).attempts == 0


def test_block_holds_the_task_for_a_person_until_unblocked(board: BoardEnv) -> None:
    _wire(board)
    task = must(board.agent("claude-code+opus").create_task("t").task).id
    impl = board.agent("opencode+qwen")
    claim = impl.claim_next()
    assert impl.block(task, must(claim.epoch), "the spec contradicts itself").ok
    assert impl.claim_next().outcome == "empty"
    with board.operator() as conn:
        from ainarres.board import admin

        assert admin.unblock(conn, task, "clarified the spec").ok
        assert admin.unblock(conn, task, "again").outcome == "illegal_transition"
    assert must(impl.claim_next().task).id == task


def test_return_is_illegal_where_the_workflow_has_no_return(board: BoardEnv) -> None:
    _wire(board)
    task = must(board.agent("claude-code+opus").create_task("t").task).id
    impl = board.agent("opencode+qwen")
    claim = impl.claim_next()
    before = board.snapshot()
    out = impl.return_task(task, must(claim.epoch), "no")
    assert out.outcome == "illegal_transition"
    assert "cannot be returned" in out.message
    assert board.snapshot() == before


def test_workflow_is_rows_a_new_stage_needs_no_code(board: BoardEnv) -> None:
    """Insert a security-review stage between review and integrate by editing rows only."""
    _wire(board)
    board.add_family("codex+gpt", "reviewer")
    with board.operator() as conn:
        conn.execute(b"""
            WITH w AS (SELECT id FROM ainarres.workflows WHERE name = 'dev'),
                 s AS (INSERT INTO ainarres.stages (workflow_id, name, active_label, position)
                       SELECT id, 'security', 'security-reviewing', 45 FROM w RETURNING id)
            UPDATE ainarres.transitions SET to_stage_id = (SELECT id FROM s)
            WHERE kind = 'advance' AND from_stage_id =
                  (SELECT id FROM ainarres.stages WHERE name = 'review')""")
        conn.execute(b"""
            INSERT INTO ainarres.transitions (workflow_id, from_stage_id, to_stage_id, kind, role)
            SELECT s.workflow_id, s.id, i.id, 'advance', 'reviewer'
            FROM ainarres.stages s, ainarres.stages i
            WHERE s.name = 'security' AND i.name = 'integrate'""")
    task = must(board.agent("claude-code+opus").create_task("t").task).id
    impl, rev = board.agent("opencode+qwen"), board.agent("grok+grok-build")
    impl.advance(task, must(impl.claim_next().epoch))
    assert must(rev.advance(task, must(rev.claim_next().epoch)).task).stage == "security"
    second = board.agent("codex+gpt")
    c = second.claim_next()
    assert c.role == "reviewer" and must(c.task).stage == "security"
    assert must(second.advance(task, must(c.epoch)).task).stage == "integrate"


def test_advance_and_claim_is_done_and_next_in_one_call(board: BoardEnv) -> None:
    _wire(board)
    designer = board.agent("claude-code+opus")
    first, second = (must(designer.create_task(t).task).id for t in ("first", "second"))
    impl = board.agent("opencode+qwen")
    claim = impl.claim_next()
    assert must(claim.task).id == first
    both = impl.advance_and_claim(first, must(claim.epoch), "c" * 40)
    assert both.outcome == "ok" and must(both.task).id == second
    assert both.done is not None and both.done.ok and must(both.done.task).stage == "review"
    last = impl.advance_and_claim(second, must(both.epoch))
    assert (
        last.outcome == "empty" and last.done is not None and must(last.done.task).stage == "review"
    )
    before = board.snapshot()
    stale = impl.advance_and_claim(first, must(claim.epoch))  # no longer held: nothing happens
    assert stale.outcome == "lease_lost" and stale.done is None
    assert board.snapshot()["tasks"] == before["tasks"]
