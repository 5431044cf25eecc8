"""Review end to end: exact diffs and annotations, rounds, pinned approvals, git notes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from boardenv import must, rows
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, REVIEWER, Project, git

OTHER_REVIEWER = "codex+gpt"  # holds implementer in the scenario; given reviewer below

WORDS_V1 = "def words(text):\n    return text.split()\n"
WORDS_V2 = "def words(text):\n    return [w for w in text.split() if w]\n\n\nTESTED = True\n"


def _commit(wt: Path, name: str, text: str) -> str:
    (wt / name).parent.mkdir(parents=True, exist_ok=True)
    (wt / name).write_text(text)
    env = {
        "GIT_AUTHOR_NAME": "I",
        "GIT_AUTHOR_EMAIL": "i@x",
        "GIT_COMMITTER_NAME": "I",
        "GIT_COMMITTER_EMAIL": "i@x",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "add", name], cwd=wt, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", f"edit {name}"], cwd=wt, check=True, env=env)
    return git(wt, "rev-parse", "HEAD")


def _implement(proj: Project, task_short: str, name: str, text: str) -> str:
    run = proj.board.run
    got = json.loads(run("next", "--json", family=IMPLEMENTER).stdout)
    head = _commit(Path(got["worktree"]), name, text)
    assert run("push", task_short, family=IMPLEMENTER).returncode == 0
    assert run("done", task_short, family=IMPLEMENTER).returncode == 0
    return head


def test_review_two_rounds_annotate_return_fix_approve(proj: Project) -> None:
    run = proj.board.run
    task = must(proj.agent(DESIGNER).create_task("words helper").task)
    head1 = _implement(proj, task.short_id, "sandbox/words.py", WORDS_V1)

    assert run("next", family=REVIEWER).returncode == 0
    shown = json.loads(run("review", "show", task.short_id, "--json", family=REVIEWER).stdout)
    assert shown["schema"] == "ainarres.review/1" and shown["head"] == head1
    assert shown["files"] == [
        {
            "path": "sandbox/words.py",
            "old_path": "sandbox/words.py",
            "status": "added",
            "binary": False,
            "hunks": [
                {
                    "header": "@@ -0,0 +1,2 @@",
                    "old_start": 0,
                    "old_lines": 0,
                    "new_start": 1,
                    "new_lines": 2,
                    "lines": [
                        {"kind": "add", "old": None, "new": 1, "text": "def words(text):"},
                        {"kind": "add", "old": None, "new": 2, "text": "    return text.split()"},
                    ],
                }
            ],
        }
    ]
    note = run(
        "review",
        "annotate",
        task.short_id,
        "--file",
        "sandbox/words.py",
        "--line",
        "2",
        "--severity",
        "major",
        "--body",
        "empty strings?",
        family=REVIEWER,
    )
    assert note.returncode == 0, note.stderr
    assert "warning" not in note.stderr
    back = run("review", "return", task.short_id, "--reason", "handle blanks", family=REVIEWER)
    assert back.returncode == 0, back.stderr

    again = json.loads(run("next", "--json", family=IMPLEMENTER).stdout)
    [fb] = again["feedback"]
    assert (fb["source"], fb["round"], fb["reason"], fb["family"]) == (
        "review",
        1,
        "handle blanks",
        REVIEWER,
    )
    assert [
        (a["file"], a["line"], a["side"], a["severity"], a["body"], a["commit"])
        for a in fb["annotations"]
    ] == [("sandbox/words.py", 2, "new", "major", "empty strings?", head1)]
    text = run("next", family=IMPLEMENTER)  # nothing else: the held task is not re-offered
    assert text.returncode == 5
    head2 = _commit(Path(again["worktree"]), "sandbox/words.py", WORDS_V2)
    assert run("push", task.short_id, family=IMPLEMENTER).returncode == 0
    assert run("done", task.short_id, family=IMPLEMENTER).returncode == 0

    assert run("next", family=REVIEWER).returncode == 0
    second = run("review", "show", task.short_id, family=REVIEWER).stdout
    assert "round 2" in second.splitlines()[0]
    assert "round 1 sandbox/words.py:2 (new) [major] grok+grok-build: empty strings?" in second
    assert "round 1: return by grok+grok-build at " + head1[:12] + ": handle blanks" in second
    assert "    2 + TESTED = True" not in second and "    5 + TESTED = True" in second
    ok = run("review", "approve", task.short_id, family=REVIEWER)
    assert ok.returncode == 0, ok.stderr
    with proj.board.operator() as conn:
        verdicts = rows(
            conn,
            "SELECT round, verdict, commit FROM ainarres.reviews WHERE task_id = %s ORDER BY id",
            task.id,
        )
    assert verdicts == [
        {"round": 1, "verdict": "return", "commit": head1},
        {"round": 2, "verdict": "approve", "commit": head2},
    ]
    # the notes travelled to the hub
    notes1 = git(proj.hub, "notes", "--ref=ainarres/review", "show", head1)
    assert notes1.splitlines() == [
        f"[round 1] {REVIEWER} annotate {task.short_id}: sandbox/words.py:2 (new) [major] "
        "empty strings?",
        "",
        f"[round 1] {REVIEWER} return {task.short_id}: handle blanks",
    ]
    assert git(proj.hub, "notes", "--ref=ainarres/review", "show", head2) == (
        f"[round 2] {REVIEWER} approve {task.short_id}:"
    )
    assert run("integrate", "--family", INTEGRATOR).returncode == 0
    assert git(proj.hub, "show", f"{MAIN}:sandbox/words.py") + "\n" == WORDS_V2
    report = run("report").stdout
    assert (
        f"- {task.short_id} implemented={IMPLEMENTER} (alibaba) reviewed={REVIEWER} (xai) "
        f"integrated={INTEGRATOR} (person)"
    ) in report
    assert "cross-family review: 1/1 shipped tasks reviewed by a different family" in report


def test_review_approve_refuses_a_moved_branch_and_gate_refuses_unapproved_head(
    proj: Project,
) -> None:
    run = proj.board.run
    task = must(proj.agent(DESIGNER).create_task("t").task)
    head = _implement(proj, task.short_id, "a.txt", "a\n")
    assert run("next", family=REVIEWER).returncode == 0
    # The branch moves on the hub behind the board's back (a bypass the gate would refuse).
    moved = proj.commit_on("scratch", "b.txt", "b\n")
    subprocess.run(
        ["git", "fetch", "-q", str(proj.clone), f"+{moved}:refs/heads/{task.branch}"],
        cwd=proj.hub,
        check=True,
    )
    before = proj.board.snapshot()
    res = run("review", "approve", task.short_id, family=REVIEWER)
    assert res.returncode == 1
    assert (
        f"the hub's {task.branch} is at {moved[:12]}, not at the reviewed {head[:12]}; "
        "return the task for a new round"
    ) in res.stderr
    assert proj.board.snapshot()["tasks"] == before["tasks"]


def test_review_gate_refuses_a_head_that_changed_after_approval(proj: Project) -> None:
    task, head, _ = proj.approved_task("x.txt")
    other = proj.commit_on("elsewhere", "y.txt", "y\n")
    with proj.board.operator() as conn:  # the head changes after the approval (a bypass)
        conn.execute(b"UPDATE ainarres.tasks SET head_commit = %s WHERE id = %s", (other, task))
    for candidate in (head, other):
        merge = proj.merge_commit(candidate, task)
        result = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
        assert not result.ok
        assert "was approved at ?" in result.remote_lines[0]


def _two_implementing_reviewers(proj: Project, policy: str) -> None:
    with proj.board.operator() as conn:
        from ainarres.board import admin

        for fam in (IMPLEMENTER, OTHER_REVIEWER):
            assert admin.grant(conn, fam, "reviewer").ok
        # the family level: these families' makers are all different anyway
        assert admin.set_cross_review(conn, "dev", policy, "family").ok


def _implemented_by(proj: Project, family: str, title: str) -> object:
    task = must(proj.agent(DESIGNER).create_task(title).task)
    agent = proj.agent(family, f"impl-{title}")
    claim = agent.claim_next("implementer")
    assert must(claim.task).id == task.id
    assert agent.advance(task.id, must(claim.epoch), "a" * 40).ok
    return task.id


def test_review_prefer_gives_each_family_the_others_work_first(proj: Project) -> None:
    _two_implementing_reviewers(proj, "prefer")
    own = [_implemented_by(proj, IMPLEMENTER, f"q{i}") for i in range(2)]
    theirs = [_implemented_by(proj, OTHER_REVIEWER, f"c{i}") for i in range(2)]
    qwen = proj.agent(IMPLEMENTER, "qwen-reviewer")
    gpt = proj.agent(OTHER_REVIEWER, "gpt-reviewer")
    # each reviewer family takes the other's tasks first, oldest first
    assert [must(qwen.claim_next("reviewer").task).id for _ in range(2)] == theirs
    assert must(gpt.claim_next("reviewer").task).id == own[0]
    # with nothing of the other family's left, qwen falls back to its own family's work
    assert must(qwen.claim_next("reviewer").task).id == own[1]


def test_review_require_blocks_a_same_family_claim(proj: Project) -> None:
    _two_implementing_reviewers(proj, "require")
    _implemented_by(proj, IMPLEMENTER, "mine")
    qwen = proj.agent(IMPLEMENTER, "qwen-reviewer")
    assert qwen.claim_next("reviewer").outcome == "empty"
    assert proj.agent(OTHER_REVIEWER, "gpt").claim_next("reviewer").ok


def test_review_off_still_never_lets_the_implementing_agent_review(proj: Project) -> None:
    _two_implementing_reviewers(proj, "off")
    task = must(proj.agent(DESIGNER).create_task("solo").task)
    same = proj.agent(IMPLEMENTER, "both-hats")
    claim = same.claim_next("implementer")
    same.advance(task.id, must(claim.epoch), "a" * 40)
    assert same.claim_next("reviewer").outcome == "empty"
    sibling = proj.agent(IMPLEMENTER, "sibling")
    assert must(sibling.claim_next("reviewer").task).id == task.id  # same family, other instance
