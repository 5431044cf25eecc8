"""`ainarres integrate` against a real board and a real hub, through the installed gate."""

from __future__ import annotations

import subprocess

from boardenv import rows
from scenario import IMPLEMENTER, INTEGRATOR, INTEGRATOR_PASSPHRASE, MAIN, REVIEWER, Project, git

from ainarres.integrate.run import Options, integrate

OPTIONS = Options(family=INTEGRATOR, passphrase=INTEGRATOR_PASSPHRASE)


def _stages(proj: Project) -> dict[str, str]:
    with proj.board.operator() as conn:
        return {
            r["title"]: r["name"]
            for r in rows(
                conn,
                "SELECT t.title, s.name FROM ainarres.tasks t JOIN ainarres.stages s "
                "ON s.id = t.stage_id",
            )
        }


def _main_merges(proj: Project) -> list[dict[str, str]]:
    """The first-parent merges on the hub's main with their ainarres trailers."""
    out = git(
        proj.hub,
        "log",
        "--first-parent",
        "--merges",
        "--format=%H%x1f%(trailers:only,unfold)%x1e",
        MAIN,
    )
    merges = []
    for rec in filter(None, (r.strip() for r in out.split("\x1e"))):
        oid, _, trailers = rec.partition("\x1f")
        fields = dict(line.split(": ", 1) for line in trailers.splitlines() if ": " in line)
        merges.append({"oid": oid, **fields})
    return merges


def _run_cli(
    proj: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return proj.board.run("integrate", "--family", INTEGRATOR, *args, env=env)


def test_integrate_ships_three_tasks_with_one_push(proj: Project) -> None:
    tasks = [proj.approved_task(f"f{i}.txt", claim=False)[0] for i in range(3)]
    main_before = proj.hub_ref(MAIN)
    lines: list[str] = []
    results = integrate(
        proj.board.settings,
        OPTIONS,
        progress=lines.append,
    )
    assert [r.outcome for r in results] == ["shipped"] * 3
    assert set(_stages(proj).values()) == {"shipped"}
    merges = _main_merges(proj)
    assert [m["Ainarres-Task"] for m in reversed(merges)] == [str(t) for t in tasks]
    assert {m["Ainarres-Implemented-By"] for m in merges} == {IMPLEMENTER}
    assert {m["Ainarres-Reviewed-By"] for m in merges} == {REVIEWER}
    assert {m["Ainarres-Integrated-By"] for m in merges} == {INTEGRATOR}
    # one signed push moved main once, from the old tip straight to the third merge
    reflog = git(proj.hub, "reflog", "show", "--format=%H", MAIN).splitlines()
    assert reflog[:2] == [merges[0]["oid"], main_before]
    assert sum(line.startswith("pushed main") for line in lines) == 1
    for f in ("f0.txt", "f1.txt", "f2.txt"):
        assert git(proj.hub, "show", f"{MAIN}:{f}") == f


def test_integrate_conflict_returns_the_task_naming_the_files(proj: Project) -> None:
    first, _, _ = proj.approved_task("same.txt", "one\n", claim=False)
    second, _, _ = proj.approved_task("same.txt", "two\n", claim=False)
    results = integrate(proj.board.settings, OPTIONS)
    assert [r.outcome for r in results] == ["returned", "shipped"]
    assert results[0].detail.startswith("merge conflict with main in: same.txt;")
    with proj.board.operator() as conn:
        stage = rows(
            conn,
            "SELECT s.name FROM ainarres.tasks t JOIN ainarres.stages s ON "
            "s.id = t.stage_id WHERE t.id = %s",
            second,
        )[0]["name"]
        reason = rows(
            conn,
            "SELECT data->>'reason' AS r FROM ainarres.events WHERE task_id = %s "
            "AND kind = 'returned'",
            second,
        )[0]["r"]
    assert stage == "implement" and "same.txt" in reason
    assert [m["Ainarres-Task"] for m in _main_merges(proj)] == [str(first)]


def test_integrate_failing_checks_return_the_task(proj: Project) -> None:
    broken = "def word_count(text):\n    return -1\n"
    task, _, _ = proj.approved_task("sandbox/stats.py", broken, claim=False)
    main = proj.hub_ref(MAIN)
    results = integrate(proj.board.settings, OPTIONS)
    assert [r.outcome for r in results] == ["returned"]
    assert results[0].detail.startswith("checks failed (test) on the merge with main")
    assert proj.hub_ref(MAIN) == main
    assert _stages(proj)["add sandbox/stats.py"] == "implement"


def test_integrate_dry_run_changes_nothing(proj: Project) -> None:
    proj.approved_task("a.txt", claim=False)
    proj.approved_task("a.txt", "clash\n", claim=False)
    before, refs = proj.board.snapshot(), proj.refs()
    res = _run_cli(proj, "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    assert '"would-ship"' in res.stdout and '"would-return"' in res.stdout
    assert proj.board.snapshot()["tasks"] == before["tasks"]
    assert proj.board.snapshot()["events"] == before["events"]
    assert proj.refs() == refs


def test_integrate_once_takes_one_task(proj: Project) -> None:
    proj.approved_task("a.txt", claim=False)
    proj.approved_task("b.txt", claim=False)
    res = _run_cli(proj, "--once")
    assert res.returncode == 0, res.stderr
    assert sorted(_stages(proj).values()) == ["integrate", "shipped"]


def test_integrate_crash_after_push_then_rerun_ships_each_task_once(proj: Project) -> None:
    tasks = [proj.approved_task(f"c{i}.txt", claim=False)[0] for i in range(2)]
    crashed = _run_cli(proj, env={"AINARRES_FAILPOINT": "after-push"})
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL
    main_after_crash = proj.hub_ref(MAIN)
    assert len(_main_merges(proj)) == 2
    assert set(_stages(proj).values()) == {"integrate"}  # the board had not heard yet
    rerun = _run_cli(proj)
    assert rerun.returncode == 0, rerun.stderr
    assert "already on main" in rerun.stderr or "already on main" in rerun.stdout
    assert set(_stages(proj).values()) == {"shipped"}
    assert proj.hub_ref(MAIN) == main_after_crash  # nothing merged twice
    assert sorted(m["Ainarres-Task"] for m in _main_merges(proj)) == sorted(map(str, tasks))
    assert _run_cli(proj).returncode == 0  # a third run finds nothing to do


def test_integrate_crash_before_push_then_rerun_ships(proj: Project) -> None:
    proj.approved_task("d.txt", claim=False)
    main = proj.hub_ref(MAIN)
    crashed = _run_cli(proj, env={"AINARRES_FAILPOINT": "before-push"})
    assert crashed.returncode == -9
    assert proj.hub_ref(MAIN) == main
    assert _run_cli(proj).returncode == 0
    assert set(_stages(proj).values()) == {"shipped"} and len(_main_merges(proj)) == 1


def test_integrate_refused_push_releases_the_tasks(proj: Project) -> None:
    """If the hub does not accept the integrator's key for main, nothing ships and the
    claimed tasks go back to the queue (released, not lost)."""
    proj.approved_task("e.txt", claim=False)
    signers = proj.hub / "ainarres" / "allowed_signers"
    kept = [ln for ln in signers.read_text().splitlines() if not ln.startswith(INTEGRATOR + " ")]
    signers.write_text("".join(line + "\n" for line in kept))
    main = proj.hub_ref(MAIN)
    res = _run_cli(proj)
    assert res.returncode == 1
    assert "the hub refused main: ainarres gate: refused refs/heads/main: signing key" in res.stderr
    assert proj.hub_ref(MAIN) == main
    with proj.board.operator() as conn:
        held = rows(
            conn,
            "SELECT holder_agent, s.name FROM ainarres.tasks t JOIN "
            "ainarres.stages s ON s.id = t.stage_id",
        )
    assert held == [{"holder_agent": None, "name": "integrate"}]
