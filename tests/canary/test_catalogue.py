"""The defect catalogue (data), its rewrites and their recognition, the draws, and the
catch-rate arithmetic: pure parts, tested without a board."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from ainarres.agents import scripted
from ainarres.canary import catalogue, score, service
from ainarres.errors import BadInput
from ainarres.rows import CanaryResult, CanaryVerdict

SOURCE = '''"""A sample."""


def clamp(values: list[int], n: int) -> list[int]:
    """The first n values, each at least 0."""
    if n < 0:
        raise ValueError("n must be >= 0")
    kept = [v for v in values if v >= 0 and v != 7]
    return kept[:n] + [len(kept) * 2]


def test_clamp() -> None:
    assert clamp([1, -1], 1) == [1, 2]
    assert clamp([], 0) == [0]
'''


def test_every_kind_of_the_shipped_catalogue_plants_and_is_recognised() -> None:
    rules = catalogue.load()
    lines = range(1, len(SOURCE.splitlines()) + 1)
    found = catalogue.candidates(rules, "sample.py", SOURCE, lines)
    assert {s.kind for s in found} == set(catalogue.KINDS)
    for seeded in found:
        assert seeded.text != SOURCE
        differences = catalogue.recognise(rules, SOURCE, seeded.text)
        assert [(d.line, d.kind) for d in differences] == [(seeded.line, seeded.kind)], seeded


def test_only_added_code_lines_are_seeded_and_python_must_still_parse() -> None:
    rules = catalogue.load()
    # Line 6 alone: the guard's `if`; its removal (with its raise) would take every added
    # line of the change, leaving nothing in the diff to point at.
    kinds = {s.kind for s in catalogue.candidates(rules, "sample.py", SOURCE, [6])}
    assert kinds == {"inverted_condition", "off_by_one", "wrong_constant"}
    with_body = catalogue.candidates(rules, "sample.py", SOURCE, [6, 7, 8])
    removed = [s for s in with_body if s.kind == "removed_guard"]
    assert [s.line for s in removed] == [6]  # line 8 now sits at 6, still added
    # Not in a docstring or a comment: line 5's "0" and a commented-out assertion stay.
    assert catalogue.candidates(rules, "sample.py", SOURCE, [5]) == []
    commented = "x = 1\n# assert x == 2\n"
    assert catalogue.candidates(rules, "c.py", commented, [2]) == []
    # The only statement of a body cannot go: the file would not parse.
    lonely = "def f() -> None:\n    assert True\n"
    assert catalogue.candidates(rules, "t.py", lonely, [1, 2]) == []
    # Other languages are not seeded at all: no parser here says what a rewrite breaks.
    assert catalogue.candidates(rules, "t.txt", SOURCE, range(1, 15)) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[defect]]\nkind = 'typo'\npattern = 'x'\nreplace = 'y'\n", "is not one of"),
        ("[[defect]]\nkind = 'off_by_one'\npattern = 'x'\n", "exactly one of"),
        ("[[defect]]\nkind = 'off_by_one'\npattern = '('\nreplace = 'y'\n", "bad or missing"),
        (
            "[[defect]]\nkind = 'off_by_one'\npattern = 'x'\nreplace = 'y'\ntolerance = 99\n",
            "tolerance",
        ),  # fmt: skip
        ("defect = [", "not TOML"),
        ("", "lists no"),
    ],
)
def test_a_bad_catalogue_is_refused_with_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(BadInput, match=says):
        catalogue.load(text)


def test_the_draws_follow_the_rate_and_repeat() -> None:
    hits = sum(service.seeded_round(0.3, 7, task, 1) for task in range(5000))
    assert 0.27 < hits / 5000 < 0.33
    assert not any(service.seeded_round(0.0, 7, task, 1) for task in range(500))
    assert [service.seeded_round(0.5, 3, 42, r) for r in range(1, 20)] == [
        service.seeded_round(0.5, 3, 42, r) for r in range(1, 20)
    ]
    assert [service.seeded_round(0.5, 3, 42, r) for r in range(1, 40)] != [
        service.seeded_round(0.5, 4, 42, r) for r in range(1, 40)
    ]


def test_the_kind_is_drawn_first_so_a_common_kind_does_not_crowd_the_others() -> None:
    rules = catalogue.load()
    found = catalogue.candidates(rules, "sample.py", SOURCE, range(1, 15))
    picks = [service.choose(found, 1, task, 1) for task in range(3000)]
    kinds = [p.kind for p in picks if p is not None]
    shares = {k: kinds.count(k) / len(kinds) for k in catalogue.KINDS}
    assert all(abs(share - 1 / len(catalogue.KINDS)) < 0.04 for share in shares.values()), shares
    assert service.choose([], 1, 1, 1) is None


def test_wilson_interval_matches_known_values() -> None:
    low, high = score.wilson(0, 10) or (1.0, 0.0)
    assert low == 0.0 and abs(high - 0.2775) < 1e-3
    low, high = score.wilson(9, 10) or (0.0, 0.0)
    assert abs(low - 0.5958) < 1e-3 and abs(high - 0.9821) < 1e-3
    assert score.wilson(0, 0) is None


def _result(reviewer: str, maker: str, writer_maker: str, result: CanaryVerdict, kind: str,
            writer: str = "w") -> CanaryResult:  # fmt: skip
    return CanaryResult(
        task_id=uuid4(), short_id="…abcd", round=1, kind=kind, file="a.py", line=1,
        result=result, reviewer=reviewer, reviewer_maker=maker, writer=writer,
        writer_maker=writer_maker, judged_at=datetime.now(UTC),
    )  # fmt: skip


def test_scores_rank_families_and_split_other_maker_from_same_maker() -> None:
    results = [
        _result("good", "xai", "alibaba", "caught", "off_by_one"),
        _result("good", "xai", "xai", "caught", "wrong_constant"),
        _result("good", "xai", "alibaba", "missed", "off_by_one"),
        _result("poor", "anthropic", "anthropic", "missed", "off_by_one"),
        _result("poor", "anthropic", "alibaba", "returned_elsewhere", "wrong_constant"),
        _result("poor", "anthropic", "anthropic", "caught", "off_by_one", writer="poor"),
    ]
    scores = score.score(results)
    assert [(r.group, r.seen, r.caught) for r in scores.by_family] == [("good", 3, 2),
                                                                       ("poor", 3, 1)]  # fmt: skip
    sides = {r.group: (r.seen, r.caught) for r in scores.by_side}
    assert sides == {"other maker": (3, 1), "same maker": (2, 1), "same family": (1, 1)}
    poor = next(r for r in scores.by_family if r.group == "poor")
    assert (poor.missed, poor.elsewhere) == (1, 1)
    text = score.as_text(scores)
    assert "reviewer vs author" in text and "good" in text.splitlines()[3]
    assert scores.as_dict()["total"] == 6


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--recall", "1.5"], "between 0 and 1"),
        (["--recall", "typo=0.5"], "no defect kind"),
        (["--recall"], "incomplete"),
        (["--loud", "1"], "unknown"),
    ],
)
def test_the_scripted_reviewer_refuses_bad_options(args: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        scripted._reviewer_options(args)


def test_the_scripted_reviewer_reads_recall_per_kind() -> None:
    recall, seed, use_mcp = scripted._reviewer_options(
        ["--recall", "0.9", "--recall", "off_by_one=0.2", "--seed", "5"]
    )
    assert recall == {"": 0.9, "off_by_one": 0.2} and seed == 5 and not use_mcp
    assert scripted._reviewer_options(["--mcp", "--seed", "2"]) == (None, 2, True)


@pytest.mark.parametrize("chance", [0.0, 0.3, 0.9, 1.0])
def test_the_scripted_reviewer_notices_its_share_spread_evenly(
    chance: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    recall = {"": chance, "off_by_one": 0.5}
    for n in range(1, 41):
        scripted._notices(recall, "wrong_constant", seed=3)
        tally = scripted.read_tally(tmp_path)[""]
        # after any n, within one of the share: a run never strays like independent draws
        assert tally["seen"] == n and abs(tally["noticed"] - chance * n) < 1.0
    hits = [scripted._notices(recall, "off_by_one", seed=3) for _ in range(10)]
    assert sum(hits) == 5 and hits != [True] * 5 + [False] * 5  # its own key, interleaved
    assert scripted.read_tally(tmp_path)[""]["seen"] == 40
