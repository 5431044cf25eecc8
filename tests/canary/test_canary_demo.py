"""The canary demo as the proof the issue asks for: two scripted reviewer families of known
recall (0.9 and 0.3, each noticing its share of what it sees), real processes (the swarm's
sandboxed tools, the canary service, the hub's gate, the integrator), at least 40 canaries;
the report ranks them right and governance demotes the weak one, and nothing seeded reaches
main."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scenario import git

from ainarres import report
from ainarres.agents import toolhome
from ainarres.agents.scripted import read_tally
from ainarres.board import reads
from ainarres.board.db import open_connection, operator_conninfo
from ainarres.board.embedded import EmbeddedServer
from ainarres.canary.demo import STRONG, WEAK, Plan, run_canary_demo
from ainarres.config import Settings


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "canary-demo"
    EmbeddedServer(tmp_path / "canary-demo").stop()


@pytest.mark.slow
def test_two_reviewers_of_known_recall_are_ranked_and_the_weak_one_demoted(
    demo_dir: Path,
) -> None:
    plan = Plan()
    lines: list[str] = []
    code = run_canary_demo(demo_dir, plan, log=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    EmbeddedServer(demo_dir).ensure_running()
    settings = Settings(state_dir=demo_dir, database_url=None)
    with open_connection(operator_conninfo(settings)) as conn:
        built = report.build(conn, canaries=True)
        results = reads.canary_results(conn)
        seeded = [r["seeded_head"] for r in conn.execute(
            "SELECT seeded_head FROM ainarres_private.canaries").fetchall()]  # fmt: skip
    scores = built.canaries
    assert scores is not None and scores.total == len(results) >= plan.min_canaries, text
    by = {r.group: r for r in scores.by_family}
    strong, weak = by[STRONG[0]], by[WEAK[0]]
    assert strong.rate is not None and weak.rate is not None
    assert [r.group for r in scores.by_family] == [STRONG[0], WEAK[0]]
    # The board's figures are the reviewers' own record: each scripted reviewer keeps a
    # tally of the deviations it saw and noticed, and every one it saw was a canary round
    # judged for its family, caught exactly when it noticed.
    for family, recall, row in ((STRONG[0], plan.strong_recall, strong),
                                (WEAK[0], plan.weak_recall, weak)):  # fmt: skip
        tally = read_tally(toolhome.path(settings, family)).get("", {})
        assert (row.seen, row.caught) == (tally.get("seen"), tally.get("noticed")), text
        # and it noticed its recall's share, give or take one (spread evenly)
        assert abs(row.caught - recall * row.seen) < 1.0, text
    # Governance took the reviewer role from the weak family, and only from it.
    assert built.governance is not None
    denied = {(d.family, d.role) for d in built.governance.denials}
    assert denied == {(WEAK[0], "reviewer")}, text
    assert weak.seen >= 10  # the policy waits for ten before it judges
    # Every task shipped, none with a seeded head: main holds no seeded commit.
    assert len(built.shipped) == plan.tasks
    on_main = set(git(demo_dir / "hub.git", "rev-list", "refs/heads/main").split())
    assert seeded and not on_main & set(seeded)
    # The report's real review figures know nothing of canaries: each shipped task's
    # reviewer is the family whose approval of its own head shipped it.
    assert all(s.reviewed in (STRONG[0], WEAK[0]) for s in built.shipped)
    assert "canaries:" in text and "reviewer vs author" in text
