"""Makers, not just families; one integrator seat, a person's; keys and passwords that can
be rotated or retired; workflow settings without SQL. Each refusal is one line, a non-zero
exit, and nothing changed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from boardenv import must, rows
from psycopg.conninfo import make_conninfo
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project

from ainarres import project
from ainarres.board import admin
from ainarres.board.db import family_conninfo, open_connection
from ainarres.credentials import family_file
from ainarres.errors import BoardLost
from ainarres.git.push import push


def _refused(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], lines


@pytest.mark.parametrize(
    ("tool", "model", "maker"),
    [
        ("claude-code", "haiku", "anthropic"),
        ("grok", "grok-code-fast", "xai"),
        ("codex", "gpt-5", "openai"),
        ("gemini-cli", "gemini-2.5-pro", "google"),
        ("opencode", "qwen3-coder", "alibaba"),
        ("opencode", "openrouter/qwen/qwen3-coder", "alibaba"),
        ("aider", "sonnet", "anthropic"),
        ("person", "human", "person"),
    ],
)
def test_a_family_s_maker_comes_from_its_tool_or_model(
    proj: Project, tool: str, model: str, maker: str
) -> None:
    name = f"{tool}+{model.replace('/', '-')}"
    done = proj.board.run("family", "add", name, "--tool", tool, "--model", model, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["family"]["maker"] == maker
    shown = json.loads(proj.board.run("family", "show", name, "--json").stdout)
    assert shown["maker"] == maker


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("x+y", "--tool", "mytool", "--model", "mymodel"), "no maker is known for tool mytool"),
        (
            ("p+q", "--tool", "person", "--model", "human", "--maker", "anthropic"),
            "a person's family is made by a person",
        ),
        (
            ("c+d", "--tool", "claude-code", "--model", "opus", "--maker", "person"),
            "maker person is for tool person",
        ),
        (
            ("c+e", "--tool", "claude-code", "--model", "opus", "--maker", "Anthropic Inc"),
            "maker 'Anthropic Inc'",
        ),
    ],
)
def test_bad_makers_are_refused(proj: Project, args: tuple[str, ...], text: str) -> None:
    before = proj.board.snapshot()
    _refused(proj.board.run("family", "add", *args), 2, text)
    assert proj.board.snapshot() == before


def _anthropic_side(proj: Project) -> tuple[str, str]:
    """Two more Anthropic families: an implementer and a reviewer."""
    impl, rev = "claude-code+haiku", "claude-code+sonnet"
    proj.board.add_family(impl, "implementer")
    proj.board.add_family(rev, "reviewer")
    for family in (impl, rev):
        project.ensure_family_key(proj.board.settings, family)
    return impl, rev


def _implemented(proj: Project, family: str, title: str) -> object:
    task = must(proj.agent(DESIGNER).create_task(title).task)
    agent = proj.agent(family, f"impl-{title}")
    claim = agent.claim_next("implementer")
    assert claim.task is not None and claim.task.id == task.id
    assert agent.advance(task.id, claim.epoch or 0, "a" * 40).ok
    return task.id


def test_require_at_maker_level_keeps_a_maker_from_reviewing_itself(proj: Project) -> None:
    impl, anthropic_reviewer = _anthropic_side(proj)
    with proj.board.operator() as conn:
        assert admin.set_cross_review(conn, "dev", "require", "maker").ok
    task = _implemented(proj, impl, "by-anthropic")
    same_maker = proj.agent(anthropic_reviewer).claim_next("reviewer")
    assert same_maker.outcome == "empty"  # another Anthropic family, never offered
    other = proj.agent(REVIEWER).claim_next("reviewer")  # grok: xai
    assert other.ok and other.task is not None and other.task.id == task


def test_at_family_level_the_old_behaviour_holds(proj: Project) -> None:
    impl, anthropic_reviewer = _anthropic_side(proj)
    with proj.board.operator() as conn:
        assert admin.set_cross_review(conn, "dev", "require", "family").ok
    task = _implemented(proj, impl, "by-anthropic")
    same_maker = proj.agent(anthropic_reviewer).claim_next("reviewer")
    assert same_maker.ok and same_maker.task is not None and same_maker.task.id == task


def test_the_report_counts_cross_maker_review(proj: Project) -> None:
    """Two shipped tasks, both reviewed by another family; one by another maker."""
    _, anthropic_reviewer = _anthropic_side(proj)
    with proj.board.operator() as conn:
        assert admin.set_cross_review(conn, "dev", "off", "maker").ok
    first, _, _ = proj.approved_task("one.txt", claim=False)  # opencode+qwen, reviewed by grok
    proj.board.add_family("claude-code+opus4", "implementer")
    project.ensure_family_key(proj.board.settings, "claude-code+opus4")
    with proj.board.operator() as conn:
        assert admin.grant(conn, "claude-code+opus4", "implementer").ok
    # the second: implemented by an Anthropic family, reviewed by another Anthropic family
    task = must(proj.agent(DESIGNER).create_task("two").task)
    impl = proj.agent("claude-code+opus4")
    claim = impl.claim_next("implementer")
    assert claim.task is not None and claim.task.id == task.id
    head = proj.commit_on(task.branch, "two.txt", "two\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", "claude-code+opus4", epoch=claim.epoch).ok
    assert impl.advance(task.id, claim.epoch or 0, head).ok
    review = proj.agent(anthropic_reviewer).claim_next("reviewer")
    assert review.ok and proj.agent(anthropic_reviewer).advance(task.id, review.epoch or 0).ok
    assert proj.board.run("integrate", "--family", INTEGRATOR).returncode == 0
    report = proj.board.run("report").stdout
    assert "cross-family review: 2/2 shipped tasks" in report
    assert "cross-maker review: 1/2 shipped tasks reviewed by a different maker" in report
    assert (
        f"implemented=claude-code+opus4 (anthropic) reviewed={anthropic_reviewer} "
        f"(anthropic) integrated={INTEGRATOR} (person)"
    ) in report
    data = json.loads(proj.board.run("report", "--json").stdout)
    assert data["cross_maker_review"] == {"reviewed_by_other_maker": 1, "shipped": 2}
    del first


def test_the_integrator_seat_is_a_persons_and_only_one(proj: Project, tmp_path: Path) -> None:
    run = proj.board.run
    before = proj.board.snapshot()
    _refused(run("grant", IMPLEMENTER, "integrator"), 1, "the integrator role is a person's")
    # and around the verb: the operator's own INSERT and UPDATE are refused by the database
    with proj.board.operator() as conn:
        for sql in (
            "INSERT INTO ainarres.grants (family_id, role, granted_by) SELECT id, 'integrator', "
            "'me' FROM ainarres.families WHERE name = %s",
            "UPDATE ainarres.grants SET role = 'integrator' FROM ainarres.families f WHERE "
            "f.id = family_id AND f.name = %s",
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(sql.encode(), (IMPLEMENTER,))
    assert proj.board.snapshot() == before
    secret = tmp_path / "pp"
    secret.write_text("second person's passphrase\n")
    env = {"AINARRES_PASSPHRASE_FILE": str(secret)}
    assert (
        run(
            "family",
            "add",
            "person+second",
            "--tool",
            "person",
            "--model",
            "human",
            "--passphrase",
            env=env,
        ).returncode
        == 0
    )
    before = proj.board.snapshot()
    _refused(run("grant", "person+second", "integrator"), 1, "holds the one integrator seat")
    with proj.board.operator() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            b"INSERT INTO ainarres.grants (family_id, role, granted_by) SELECT id, "
            b"'integrator', 'me' FROM ainarres.families WHERE name = 'person+second'"
        )
    assert proj.board.snapshot() == before

    # handing over: revoke then grant, both in the log; the old holder's push is refused
    task, head, epoch = proj.approved_task("handover.txt")
    merge = proj.merge_commit(head, task)
    assert run("revoke", INTEGRATOR, "integrator", "--reason", "handing over").returncode == 0
    assert run("grant", "person+second", "integrator").returncode == 0
    old = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert not old.ok and f"signer {INTEGRATOR} is not an integrator" in old.remote_lines[0]
    with proj.board.operator() as conn:
        kinds = rows(
            conn,
            "SELECT kind, data->>'role' AS role FROM ainarres.events WHERE kind "
            "IN ('revoked', 'granted') ORDER BY id DESC LIMIT 2",
        )
    assert kinds == [
        {"kind": "granted", "role": "integrator"},
        {"kind": "revoked", "role": "integrator"},
    ]
    del epoch


def test_families_cannot_grant_or_revoke(proj: Project) -> None:
    conn = open_connection(family_conninfo(proj.board.settings, IMPLEMENTER))
    try:
        for sql in (
            b"SELECT ainarres.revoke_role('person+integrator', 'integrator', 'mine')",
            b"SELECT ainarres.grant_role('opencode+qwen', 'designer', NULL)",
            b"SELECT ainarres.family_retire('grok+grok-build', 'x')",
            b"SELECT ainarres.set_cross_review('dev', 'off', 'family')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    finally:
        conn.close()


def test_rotating_a_key_refuses_the_old_one_and_accepts_the_new(
    proj: Project, tmp_path: Path
) -> None:
    settings = proj.board.settings
    task = must(proj.agent(DESIGNER).create_task("rotate").task)
    agent = proj.agent(IMPLEMENTER)
    claim = agent.claim_next()
    assert claim.epoch is not None
    old_copy = tmp_path / "old-key"
    shutil.copytree(project.key_path(settings, IMPLEMENTER).parent, old_copy)
    rotated = proj.board.run("family", "rotate-key", IMPLEMENTER)
    assert rotated.returncode == 0, rotated.stderr
    proj.commit_on(task.branch, "r.txt", "r\n")
    from ainarres.git.keys import load_signing_key

    stale = push(
        proj.clone,
        "origin",
        [f"HEAD:refs/heads/{task.branch}"],
        key=load_signing_key(old_copy / "id_ed25519", IMPLEMENTER),
        signed=True,
        options=[f"ainarres-epoch={claim.epoch}"],
    )
    assert not stale.ok and "is not in the hub's allowed signers" in stale.remote_lines[0]
    fresh = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claim.epoch)
    assert fresh.ok, fresh.remote_lines
    with proj.board.operator() as conn:
        logged = rows(
            conn,
            "SELECT data->>'fingerprint' AS fp FROM ainarres.events WHERE kind = 'key_rotated'",
        )
    assert len(logged) == 1 and logged[0]["fp"].startswith("SHA256:")


@pytest.mark.fresh_project  # a new password and a NOLOGIN reach its roles, cluster-wide
def test_rotating_a_password_and_retiring_a_family(proj: Project) -> None:
    settings = proj.board.settings
    old = json.loads(family_file(settings.state_dir, REVIEWER).read_text())
    assert proj.board.run("family", "rotate-password", REVIEWER).returncode == 0
    info = family_conninfo(settings, REVIEWER)
    open_connection(info).close()  # the new one works
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(make_conninfo(**{**info, "password": old["password"]})).close()

    task = must(proj.agent(DESIGNER).create_task("held by the retiree").task)
    impl = proj.agent(IMPLEMENTER)
    assert impl.claim_next().ok
    retired = proj.board.run("family", "retire", IMPLEMENTER, "--reason", "done with it")
    assert retired.returncode == 0, retired.stderr
    assert "1 claim(s) released" in retired.stdout
    with pytest.raises(BoardLost):  # login off, and its credential is gone
        open_connection({**info, "user": old["user"], "password": old["password"]}).close()
    assert not family_file(settings.state_dir, IMPLEMENTER).exists()
    signers = (proj.hub / "ainarres" / "allowed_signers").read_text()
    assert f"{IMPLEMENTER} " not in signers
    with proj.board.operator() as conn:
        t = rows(conn, "SELECT holder_agent FROM ainarres.tasks WHERE id = %s", task.id)
        history = rows(
            conn,
            "SELECT count(*) AS n FROM ainarres.events e JOIN "
            "ainarres.families f ON f.id = e.family_id WHERE f.name = %s",
            IMPLEMENTER,
        )
    assert t == [{"holder_agent": None}] and history[0]["n"] > 0  # history kept
    before = proj.board.snapshot()
    _refused(proj.board.run("family", "rotate-password", IMPLEMENTER), 1, "is retired")
    _refused(proj.board.run("grant", IMPLEMENTER, "reviewer"), 1, "is retired")
    _refused(
        proj.board.run("family", "retire", IMPLEMENTER, "--reason", "again"), 1, "retired already"
    )
    assert proj.board.snapshot() == before


def test_workflow_settings_without_sql(proj: Project) -> None:
    run = proj.board.run
    done = run("workflow", "set", "--stage", "implement", "--lease", "120", "--max-attempts", "5")
    assert done.returncode == 0, done.stderr
    assert (
        run("workflow", "set", "--cross-review", "require", "--cross-level", "family").returncode
        == 0
    )
    shown = json.loads(run("workflow", "show", "--json").stdout)
    [dev] = shown
    assert (dev["cross_review"], dev["cross_level"]) == ("require", "family")
    implement = next(s for s in dev["stages"] if s["stage"] == "implement")
    assert (implement["lease_seconds"], implement["max_attempts"]) == (120, 5)
    before = proj.board.snapshot()
    _refused(
        run("workflow", "set", "--stage", "implement", "--lease", "5"),
        2,
        "5 is not in the range 10<=x<=86400",
    )
    _refused(run("workflow", "set", "--stage", "nope", "--lease", "60"), 1, "no stage 'nope'")
    _refused(run("workflow", "set", "--cross-review", "always"), 2, "'always' is not one of")
    _refused(run("workflow", "set", "--lease", "60"), 2, "give --stage NAME")
    assert proj.board.snapshot() == before
    with proj.board.operator() as conn:
        changed = rows(
            conn, "SELECT count(*) AS n FROM ainarres.events WHERE kind = 'workflow_changed'"
        )
    assert changed == [{"n": 2}]
