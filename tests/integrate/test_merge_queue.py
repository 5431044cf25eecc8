"""The merge queue for real (ADR 0017): a real board and hub, the gate, sandbox-repo's own
unittest suite as the check, its runs counted by the check command itself (appending to a
file outside the checkout, so those runs are unsandboxed; one test runs in the sandbox)."""

from __future__ import annotations

import math
from pathlib import Path
from uuid import UUID

from boardenv import rows
from scenario import INTEGRATOR, INTEGRATOR_PASSPHRASE, MAIN, SANDBOX, Project, git

from ainarres.integrate.run import Options, TaskResult, integrate

SUITE = "python -m unittest discover -s tests"
UNSANDBOXED = Options(family=INTEGRATOR, passphrase=INTEGRATOR_PASSPHRASE, sandbox_checks=False)
SANDBOXED = Options(family=INTEGRATOR, passphrase=INTEGRATOR_PASSPHRASE)

STATS = (SANDBOX / "sandbox" / "stats.py").read_text()
TOKENIZE = (SANDBOX / "sandbox" / "tokenize.py").read_text()
# Each breaks exactly one test of sandbox-repo's suite.
SLOW_READER = STATS.replace("WORDS_PER_MINUTE = 200", "WORDS_PER_MINUTE = 100")
ONE_SENTENCE = TOKENIZE.replace(
    "return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]",
    "return [text.strip()] if text.strip() else []",
)


def _set_checks(proj: Project, table: str) -> None:
    """Main's ainarres.toml, as a person sets it (past the gate)."""
    git(proj.clone, "fetch", "--quiet", "origin")
    git(proj.clone, "checkout", "--quiet", "--detach", "origin/main")
    (proj.clone / "ainarres.toml").write_text(f"[checks]\n{table}\n")
    git(proj.clone, "commit", "--quiet", "--no-gpg-sign", "-am", "the checks for this test")
    git(proj.hub, "fetch", "--quiet", str(proj.clone), f"+HEAD:{MAIN}")


def _counted(proj: Project, tmp_path: Path, extra: str = "") -> Path:
    """Checks that append a line to a file outside the checkout on every run."""
    runs = tmp_path / "check-runs"
    _set_checks(proj, f'test = "echo run >> {runs}; {SUITE}"\n{extra}')
    return runs


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _tasks(proj: Project, plan: list[tuple[str, str | None]]) -> list[UUID]:
    """Approved tasks in this order: (file, text) each; text None writes the file's name."""
    return [proj.approved_task(name, text, claim=False)[0] for name, text in plan]


def _main_tasks(proj: Project) -> list[str]:
    """The tasks merged on main's first-parent chain, oldest first; each merge's second
    parent must be a task's approved head (what the gate sees one by one)."""
    out = git(proj.hub, "log", "--first-parent", "--merges", "--reverse",
              "--format=%(trailers:key=Ainarres-Task,valueonly)", MAIN)  # fmt: skip
    return out.split()


def _heads(proj: Project) -> dict[str, str]:
    with proj.board.operator() as conn:
        got = rows(conn, "SELECT id::text AS id, head_commit FROM ainarres.tasks")
    return {r["id"]: r["head_commit"] for r in got}


def _stage(proj: Project, task: UUID) -> str:
    with proj.board.operator() as conn:
        got = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s ON s.id = t.stage_id "
            "WHERE t.id = %s",
            task,
        )
    return str(got[0]["name"])


def _by_outcome(results: list[TaskResult]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in results:
        out.setdefault(r.outcome, []).append(r.short_id)
    return out


def _pushes(proj: Project, before: str) -> int:
    """How many times main moved on the hub since `before`."""
    reflog = git(proj.hub, "reflog", "show", "--format=%H", MAIN).splitlines()
    return reflog.index(before)


def test_a_batch_of_good_tasks_is_checked_once(proj: Project, tmp_path: Path) -> None:
    counter = _counted(proj, tmp_path)
    tasks = _tasks(proj, [(f"good{i}.txt", None) for i in range(5)])
    before = proj.hub_ref(MAIN)
    assert before is not None
    lines: list[str] = []
    results = integrate(proj.board.settings, UNSANDBOXED, progress=lines.append)
    assert [r.outcome for r in results] == ["shipped"] * 5
    assert _runs(counter) == 1
    assert sum(line.startswith("checking a batch of 5 merges") for line in lines) == 1
    assert "checks ran 1 time(s) for 5 merge(s)" in lines
    assert _main_tasks(proj) == [str(t) for t in tasks]
    heads = _heads(proj)
    for task in tasks:  # each merge on main merges that task's approved head
        merge = git(proj.hub, "log", "--first-parent", "--format=%H %P",
                    f"--grep=Ainarres-Task: {task}", MAIN).split()  # fmt: skip
        assert merge[2] == heads[str(task)]
    assert _pushes(proj, before) == 1


def test_batch_1_checks_every_merge_on_its_own(proj: Project, tmp_path: Path) -> None:
    counter = _counted(proj, tmp_path, "batch = 1")
    _tasks(proj, [(f"one{i}.txt", None) for i in range(3)])
    lines: list[str] = []
    results = integrate(proj.board.settings, UNSANDBOXED, progress=lines.append)
    assert [r.outcome for r in results] == ["shipped"] * 3
    assert _runs(counter) == 3
    assert sum(line.endswith("checking the merge with main") for line in lines) == 3
    assert not any("batch" in line for line in lines)
    assert sum(line.startswith("pushed main") for line in lines) == 1  # still one push


def test_one_bad_task_among_8_is_found_by_bisection_and_the_7_others_ship(
    proj: Project, tmp_path: Path
) -> None:
    counter = _counted(proj, tmp_path)
    plan: list[tuple[str, str | None]] = [(f"ok{i}.txt", None) for i in range(8)]
    plan[2] = ("sandbox/stats.py", SLOW_READER)
    tasks = _tasks(proj, plan)
    bad = tasks[2]
    before = proj.hub_ref(MAIN)
    assert before is not None
    lines: list[str] = []
    results = integrate(proj.board.settings, UNSANDBOXED, progress=lines.append)
    runs = _runs(counter)
    # the batch, the bisection (4 fails, 2 passes, 3 fails), the 5 after it merged again
    assert runs == 5 <= 2 * math.log2(8) + 1
    assert f"checks ran {runs} time(s) for 13 merge(s)" in lines
    outcomes = _by_outcome(results)
    assert len(outcomes["shipped"]) == 7 and len(outcomes["returned"]) == 1
    assert _main_tasks(proj) == [str(t) for t in tasks if t != bad]
    assert _pushes(proj, before) == 1
    [returned] = [r for r in results if r.outcome == "returned"]
    assert returned.detail.startswith(
        "checks failed (test) on the merge with main; failing: "
        "test_reading_time (test_stats.StatsTest.test_reading_time) "
        "(with 2 other approved merge(s) of this run under it, which pass)"
    )
    assert "FAIL: test_reading_time" in returned.detail  # the failing output itself
    assert _stage(proj, bad) == "implement"
    with proj.board.operator() as conn:
        [event] = rows(
            conn,
            "SELECT data->>'reason' AS reason, data->>'cause' AS cause, "
            "data->>'detail' AS detail FROM ainarres.events WHERE task_id = %s "
            "AND kind = 'returned'",
            bad,
        )
    assert event["cause"] == "checks" and "test_reading_time" in event["reason"]
    assert "FAIL: test_reading_time" in event["detail"]
    assert any(line.startswith("bisecting: checking the first 4 of 8 merges") for line in lines)
    assert any(line.startswith("merging a batch of 5 onto ") for line in lines)  # the rest
    assert [line for line in lines if line.startswith("batch size")] == [
        "batch size 8 -> 4 (a batch failed)",
        "batch size 4 -> 8 (a batch passed)",  # the 5 after it
    ]


def test_two_bad_tasks_in_the_sandbox_are_both_returned_and_the_rest_ships(
    proj: Project,
) -> None:
    _set_checks(proj, f'test = "{SUITE}"')
    plan: list[tuple[str, str | None]] = [(f"fine{i}.txt", None) for i in range(6)]
    plan[1] = ("sandbox/stats.py", SLOW_READER)
    plan[4] = ("sandbox/tokenize.py", ONE_SENTENCE)
    tasks = _tasks(proj, plan)
    lines: list[str] = []
    results = integrate(proj.board.settings, SANDBOXED, progress=lines.append)
    returned = {r.short_id: r.detail for r in results if r.outcome == "returned"}
    shipped = [r.short_id for r in results if r.outcome == "shipped"]
    assert len(returned) == 2 and len(shipped) == 4
    assert _main_tasks(proj) == [str(t) for i, t in enumerate(tasks) if i not in (1, 4)]
    first, second = returned.values()
    assert "failing: test_reading_time" in first
    assert "failing: test_splits_on_terminal_punctuation" in second
    assert "test_reading_time" not in second  # judged on a tree without the first culprit
    assert _stage(proj, tasks[1]) == _stage(proj, tasks[4]) == "implement"
    # 6 fail; 3 fail, 1 pass, 2 fail; the 4 after merged again: fail; 2 pass, 3 fail; the last
    assert "checks ran 8 time(s) for 11 merge(s)" in lines


def test_focus_bisects_with_the_failing_tests_only_and_ships_on_a_whole_run(
    proj: Project,
) -> None:
    """[checks] focus (ADR 0021), in the sandbox: the whole suite runs on the batch, on the
    batch again without each culprit, and nowhere else; the search runs the named tests."""
    focus = "PYTHONPATH=tests python -m unittest {tests}"
    _set_checks(proj, f'test = "{SUITE}"\nfocus = "{focus}"')
    plan: list[tuple[str, str | None]] = [(f"fine{i}.txt", None) for i in range(8)]
    plan[1] = ("sandbox/stats.py", SLOW_READER)
    plan[4] = ("sandbox/tokenize.py", ONE_SENTENCE)
    tasks = _tasks(proj, plan)
    lines: list[str] = []
    results = integrate(proj.board.settings, SANDBOXED, progress=lines.append)
    returned = {r.short_id: r.detail for r in results if r.outcome == "returned"}
    assert len(returned) == 2 and sum(r.outcome == "shipped" for r in results) == 6
    assert _main_tasks(proj) == [str(t) for i, t in enumerate(tasks) if i not in (1, 4)]
    # the batch's output tail names the last failure only: that culprit is found first, on
    # a tree that holds the other culprit but passes the named test
    first, second = returned.values()
    assert first.startswith(
        "checks failed (test) on the merge with main; failing: "
        "test_splits_on_terminal_punctuation (test_tokenize.SentencesTest."
        "test_splits_on_terminal_punctuation) (with 4 other approved "
        "merge(s) of this run under it, on which these tests pass)"
    )
    assert "Ran 1 test" in first  # the probe's own output
    assert "failing: test_reading_time (test_stats.StatsTest.test_reading_time) (with 1 " in second
    assert "test_splits_on_terminal_punctuation" not in second  # judged without the first
    whole = [line for line in lines if line.startswith(("checks failed", "checks passed"))]
    probes = [line for line in lines if line.startswith("failing tests ")]
    # whole: 8 fail; the 7 without the first culprit fail; the 6 without both pass
    assert [line.split()[1] for line in whole] == ["failed", "failed", "passed"]
    # each search: main passes, the whole chain fails, then log2 of the chain (8, then 7)
    assert len(probes) == (2 + 3) + (2 + 3)
    assert sum(line.startswith("bisecting: running the 1 failing test(s) on main")
               for line in lines) == 2  # fmt: skip
    assert "checks ran 13 time(s) for 21 merge(s)" in lines
    assert _stage(proj, tasks[1]) == _stage(proj, tasks[4]) == "implement"


def test_integrate_killed_while_bisecting_with_focus_then_run_again(proj: Project) -> None:
    """A bad day: SIGKILL at the first probe. Nothing was pushed or returned; the next run
    bisects again, ships the others once and returns the culprit naming its test."""
    _set_checks(proj, f'test = "{SUITE}"\nfocus = "PYTHONPATH=tests python -m unittest {{tests}}"')
    plan: list[tuple[str, str | None]] = [(f"ok{i}.txt", None) for i in range(4)]
    plan[1] = ("sandbox/stats.py", SLOW_READER)
    tasks = _tasks(proj, plan)
    before = proj.hub_ref(MAIN)
    killed = proj.board.run("integrate", "--family", INTEGRATOR,
                            env={"AINARRES_FAILPOINT": "probe"})  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert "bisecting: running the 1 failing test(s) on main" in killed.stderr + killed.stdout
    assert proj.hub_ref(MAIN) == before
    assert {_stage(proj, t) for t in tasks} == {"integrate"}  # nothing returned yet
    again = proj.board.run("integrate", "--family", INTEGRATOR)
    assert again.returncode == 0, again.stderr
    assert _main_tasks(proj) == [str(t) for i, t in enumerate(tasks) if i != 1]  # once each
    assert _stage(proj, tasks[1]) == "implement"
    assert "failing tests failed" in again.stderr + again.stdout
    with proj.board.operator() as conn:
        [event] = rows(conn, "SELECT data->>'reason' AS reason FROM ainarres.events "
                             "WHERE task_id = %s AND kind = 'returned'", tasks[1])  # fmt: skip
    assert "test_reading_time" in event["reason"]
    assert proj.board.run("integrate", "--family", INTEGRATOR).returncode == 0  # nothing left


def test_a_flaky_check_passes_when_run_again_and_is_recorded(proj: Project, tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    _set_checks(
        proj,
        f'test = "if [ -e {flag} ]; then {SUITE}; else touch {flag}; echo unlucky; exit 1; fi"\n'
        "retries = 2",
    )
    tasks = _tasks(proj, [(f"flaky{i}.txt", None) for i in range(3)])
    lines: list[str] = []
    results = integrate(proj.board.settings, UNSANDBOXED, progress=lines.append)
    assert [r.outcome for r in results] == ["shipped"] * 3
    assert all(r.detail.startswith("flaky checks: test failed 1 time(s)") for r in results)
    said = [line for line in lines if line.startswith("FLAKY: flaky checks")]
    assert len(said) == 1 and "then passed when run again" in said[0]
    assert "checks ran 2 time(s), 1 of them again after a failure for 3 merge(s)" in lines
    with proj.board.operator() as conn:
        notes = rows(
            conn,
            "SELECT task_id, data->>'body' AS body FROM ainarres.events WHERE kind = 'note'",
        )
    assert sorted(n["task_id"] for n in notes) == sorted(tasks)
    assert all(n["body"].startswith("flaky checks: test failed 1 time(s)") for n in notes)
    assert all("unlucky" in n["body"] for n in notes)  # the failing run's output


def test_the_batch_size_grows_on_a_pass_and_shrinks_on_a_failure(
    proj: Project, tmp_path: Path
) -> None:
    counter = _counted(proj, tmp_path, "batch = 2\nmax_batch = 4")
    plan: list[tuple[str, str | None]] = [(f"size{i}.txt", None) for i in range(8)]
    plan[4] = ("sandbox/stats.py", SLOW_READER)
    tasks = _tasks(proj, plan)
    lines: list[str] = []
    results = integrate(proj.board.settings, UNSANDBOXED, progress=lines.append)
    batches = [int(line.split()[4]) for line in lines if line.startswith("merging a batch of")]
    assert batches == [2, 4, 2]
    sizes = [line for line in lines if line.startswith("batch size")]
    assert sizes == [
        "batch size 2 -> 4 (a batch passed)",
        "batch size 4 -> 2 (a batch failed)",
        "batch size 2 -> 4 (a batch passed)",  # the one after the culprit, merged again
    ]
    # 2 pass; 4 fail, 2 pass, 3 fail, the one after it; 2 pass
    assert _runs(counter) == 6
    assert [r.outcome for r in results].count("shipped") == 7
    assert _main_tasks(proj) == [str(t) for t in tasks if t != tasks[4]]


def test_a_change_of_the_checks_goes_alone_and_later_ones_wait(
    proj: Project, tmp_path: Path
) -> None:
    counter = _counted(proj, tmp_path)
    toml = git(proj.hub, "show", f"{MAIN}:ainarres.toml")
    changer, follower = _tasks(proj, [("ainarres.toml", toml + "\nretries = 1\n"), ("x.txt", None)])
    first = integrate(proj.board.settings, UNSANDBOXED)
    assert [(r.outcome, r.detail) for r in first] == [
        ("deferred", "after a change of the checks, in the next run"),
        ("shipped", ""),
    ]
    assert _runs(counter) == 1  # judged by main's checks, alone
    assert _main_tasks(proj) == [str(changer)]
    late = _tasks(proj, [("y.txt", None), ("ainarres.toml", toml + "\nretries = 2\n")])
    second = integrate(proj.board.settings, UNSANDBOXED)
    assert sorted((r.outcome, r.detail) for r in second) == [
        ("deferred", "it changes the checks: integrated alone"),
        ("shipped", ""),
        ("shipped", ""),
    ]
    # the two others in one batch, under the changed checks; x.txt forked before they
    # changed, so its head has the old file, yet its merge changes nothing of them
    assert _runs(counter) == 2
    assert _main_tasks(proj) == [str(changer), str(follower), str(late[0])]
