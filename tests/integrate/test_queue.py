"""The merge queue's policy (`integrate/queue.py`): batch sizes and bisection, as a pure
function. The trees here are strings naming their tasks; a tree passes when it holds no
bad task (what `git merge-tree` and a real test suite do is in test_merge_queue.py)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from ainarres.integrate.queue import Link, Sizing, batches, first_failing, resolve


@dataclass(frozen=True)
class Verdict:
    ok: bool
    tree: str


@dataclass
class World:
    """Tasks a..; `bad` break any tree that holds them; `conflicting` do not merge."""

    bad: frozenset[str] = frozenset()
    conflicting: frozenset[str] = frozenset()
    checked: list[str] | None = None
    dropped: list[str] | None = None

    def build(self, onto: str, tasks: Sequence[str]) -> list[Link[str]]:
        chain, tip = [], onto
        for task in tasks:
            if task in self.conflicting:
                self.dropped = [*(self.dropped or []), task]
                continue
            tip = f"{tip}+{task}"
            chain.append(Link(task, tip))
        return chain

    def check(self, chain: Sequence[Link[str]], size: int) -> Verdict:
        tree = chain[-1].commit
        assert 1 <= len(chain) <= size
        self.checked = [*(self.checked or []), tree]
        return Verdict(not set(tree.split("+")) & self.bad, tree)


TASKS = [chr(ord("a") + i) for i in range(16)]


def test_sizing_doubles_on_a_pass_and_halves_on_a_failure_within_bounds() -> None:
    size = Sizing(8, 32)
    assert [size.after(True), size.after(True), size.after(True)] == [16, 32, 32]
    assert [size.after(False) for _ in range(7)] == [16, 8, 4, 2, 1, 1, 1]
    one = Sizing(1, 1)
    assert (one.after(True), one.after(False)) == (1, 1)  # batch = 1: every merge alone
    for bad in ((0, 4), (5, 4)):
        with pytest.raises(ValueError, match="1 <= size"):
            Sizing(*bad)


@pytest.mark.parametrize("count", range(1, 17))
def test_first_failing_finds_the_prefix_in_log2_questions(count: int) -> None:
    for culprit in range(1, count + 1):
        asked: list[int] = []

        def passes(k: int, culprit: int = culprit, asked: list[int] = asked) -> bool:
            asked.append(k)
            return k < culprit

        assert first_failing(count, passes) == culprit
        assert len(asked) <= math.ceil(math.log2(count)) if count > 1 else asked == []
        assert all(0 < k < count for k in asked)  # never the known ends


def test_a_good_batch_is_checked_once_and_ships_whole() -> None:
    world = World()
    done = resolve("main", TASKS[:8], world.build, world.check)
    assert done.shipped == TASKS[:8] and done.culprits == [] and done.passed
    assert done.tip == "main+" + "+".join(TASKS[:8])
    assert world.checked == [done.tip] and done.runs == 1


@pytest.mark.parametrize("size", [2, 3, 5, 8, 16])
def test_one_culprit_anywhere_is_found_in_at_most_2_log2_n_plus_1_runs(size: int) -> None:
    batch = TASKS[:size]
    bound = 2 * math.ceil(math.log2(size)) + 1
    for bad in batch:
        world = World(bad=frozenset(bad))
        done = resolve("main", batch, world.build, world.check)
        assert [c.task for c in done.culprits] == [bad]
        assert done.shipped == [t for t in batch if t != bad]
        assert done.tip == "+".join(["main", *done.shipped])  # the rest merged again
        assert not done.passed
        assert done.runs == len(world.checked or []) <= bound
        # exactly: the batch, the bisection, and the tasks after the culprit
        after = 1 if bad != batch[-1] else 0
        assert done.runs <= 1 + math.ceil(math.log2(size)) + after
        culprit = done.culprits[0]
        assert not culprit.run.ok and culprit.run.tree.endswith(f"+{bad}")
        assert culprit.run.tree == "+".join(["main", *batch[: batch.index(bad) + 1]])
        assert culprit.below == batch.index(bad)


def test_two_culprits_are_each_found_and_the_rest_ships() -> None:
    batch = TASKS[:8]
    worst = 0
    for pair in itertools.combinations(batch, 2):
        world = World(bad=frozenset(pair))
        done = resolve("main", batch, world.build, world.check)
        assert [c.task for c in done.culprits] == list(pair)
        assert done.shipped == [t for t in batch if t not in pair]
        assert done.tip == "+".join(["main", *done.shipped])
        # each culprit failed on a tree without the other one
        first, second = done.culprits
        assert pair[0] not in second.run.tree.split("+")
        worst = max(worst, done.runs)
    assert worst <= 2 * (1 + 3 + 1)  # two bisections of at most 8


def test_a_task_that_does_not_merge_is_left_to_the_caller() -> None:
    world = World(bad=frozenset("c"), conflicting=frozenset("e"))
    done = resolve("main", TASKS[:6], world.build, world.check)
    assert [c.task for c in done.culprits] == ["c"]
    assert done.shipped == ["a", "b", "d", "f"]
    assert world.dropped == ["e"]  # once: the caller gave it back, the rest goes without it


def test_every_task_bad_returns_each_and_ships_nothing() -> None:
    world = World(bad=frozenset(TASKS[:4]))
    done = resolve("main", TASKS[:4], world.build, world.check)
    assert [c.task for c in done.culprits] == TASKS[:4]
    assert done.shipped == [] and done.tip == "main"


def test_a_batch_of_one_is_one_run_either_way() -> None:
    for bad in (frozenset(), frozenset("a")):
        world = World(bad=bad)
        done = resolve("main", ["a"], world.build, world.check)
        assert done.runs == 1 and len(done.culprits) == len(bad)


def test_nothing_that_merges_checks_nothing() -> None:
    world = World(conflicting=frozenset("ab"))
    done = resolve("main", ["a", "b"], world.build, world.check)
    assert (done.runs, done.shipped, done.culprits, done.tip) == (0, [], [], "main")


def test_the_queue_grows_its_batches_on_passes_and_shrinks_them_on_failures() -> None:
    world = World()
    done = list(batches("main", TASKS[:15], Sizing(1, 4), world.build, world.check))
    assert [d.size for d in done] == [1, 2, 4, 4, 4]
    assert [d.sizes for d in done] == [[1, 2], [2, 4], [4, 4], [4, 4], [4, 4]]
    assert done[-1].tip == "+".join(["main", *TASKS[:15]])  # each batch onto the one before
    world = World(bad=frozenset("c"))
    done = list(batches("main", TASKS[:10], Sizing(4, 8), world.build, world.check))
    # a, b, c, d fails: 4 -> 2; d merged again passes: 2 -> 4; then e..h, i..j
    assert [(d.size, d.sizes) for d in done] == [(4, [4, 2, 4]), (4, [4, 8]), (2, [8, 8])]


def test_16_tasks_with_one_bad_cost_6_runs_of_the_checks_wherever_it_is_but_last() -> None:
    """The benchmark's case (benchmarks/merge_queue.py): batch = 8, max 32. Checking every
    merge costs 16 runs; the queue 6 (5 when the culprit is the last task)."""
    for bad in TASKS:
        world = World(bad=frozenset(bad))
        done = list(batches("main", TASKS, Sizing(8, 32), world.build, world.check))
        assert [c.task for d in done for c in d.culprits] == [bad]
        assert [t for d in done for t in d.shipped] == [t for t in TASKS if t != bad]
        assert len(world.checked or []) == (5 if bad == TASKS[-1] else 6), bad


@dataclass(frozen=True)
class Named:
    ok: bool
    tree: str
    failing: frozenset[str]
    whole: bool  # a run of the whole checks, not a probe


@dataclass
class Suite:
    """Each bad task breaks its own test; `broken` fail on every tree (main's own failures);
    `alone_passes` fail in a whole run but pass when run by themselves (order-dependent)."""

    breaks: dict[str, str]
    broken: frozenset[str] = frozenset()
    alone_passes: frozenset[str] = frozenset()
    whole_runs: list[str] = field(default_factory=list)
    probes: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def failing(self, tree: str) -> frozenset[str]:
        held = tree.split("+")
        return frozenset(t for task, t in self.breaks.items() if task in held) | self.broken

    def build(self, onto: str, tasks: Sequence[str]) -> list[Link[str]]:
        return World().build(onto, tasks)

    def check(self, chain: Sequence[Link[str]], size: int) -> Named:
        tree = chain[-1].commit
        self.whole_runs.append(tree)
        failing = self.failing(tree)
        return Named(not failing, tree, failing, True)

    def narrow(self, failing: Named) -> Callable[[str, Sequence[Link[str]], int], Named]:
        named = failing.failing

        def probe(base: str, chain: Sequence[Link[str]], size: int) -> Named:
            tree = chain[-1].commit if chain else base
            self.probes.append((tree, named))
            fails = (self.failing(tree) & named) - self.alone_passes
            return Named(not fails, tree, fails, False)

        return probe


def test_narrowed_one_culprit_costs_two_whole_runs_and_log2_n_plus_2_probes() -> None:
    for bad in TASKS:
        suite = Suite({bad: f"test_{bad}"})
        done = resolve("main", TASKS, suite.build, suite.check, suite.narrow)
        assert [c.task for c in done.culprits] == [bad]
        assert done.shipped == [t for t in TASKS if t != bad]
        assert done.tip == "+".join(["main", *done.shipped])
        # what ships passed a whole run: the batch without the culprit
        assert suite.whole_runs == ["main+" + "+".join(TASKS), done.tip]
        assert done.probes == len(suite.probes) == 2 + math.ceil(math.log2(16))
        assert done.runs == 2 + done.probes
        culprit = done.culprits[0]
        assert culprit.narrowed and not culprit.run.ok and not culprit.run.whole
        assert culprit.run.failing == {f"test_{bad}"}
        assert culprit.run.tree == "+".join(["main", *TASKS[: TASKS.index(bad) + 1]])
        assert culprit.below == TASKS.index(bad)
        # the search is sure of its ends: main passes the named test, the whole fails it
        assert suite.probes[0] == ("main", frozenset({f"test_{bad}"}))


def test_narrowed_two_culprits_each_convicted_on_a_tree_that_passes_its_test() -> None:
    batch = TASKS[:8]
    for pair in itertools.combinations(batch, 2):
        suite = Suite({task: f"test_{task}" for task in pair})
        done = resolve("main", batch, suite.build, suite.check, suite.narrow)
        assert [c.task for c in done.culprits] == list(pair)
        assert done.shipped == [t for t in batch if t not in pair]
        assert suite.whole_runs[-1] == done.tip  # shipped on a whole run's pass
        first, second = done.culprits
        assert first.run.failing == {f"test_{pair[0]}"}
        assert pair[0] not in second.run.tree.split("+")


def test_a_probe_that_cannot_tell_falls_back_to_whole_runs() -> None:
    unnarrowed = World(bad=frozenset("f"))
    expected = resolve("main", TASKS, unnarrowed.build, unnarrowed.check)
    # main already fails a test the output names (or one that does not exist there): the
    # base fails the probe, so no task can be convicted on the probe's word
    main_broken = Suite({"f": "test_f"}, broken=frozenset({"test_old"}))
    # the failing test passes when run alone: the whole chain passes the probe
    alone = Suite({"f": "test_f"}, alone_passes=frozenset({"test_f"}))
    # main_broken: one probe of main per chain of two or more (the chains shrink by one)
    for suite, probes in ((main_broken, len(TASKS) - 1), (alone, 2)):
        done = resolve("main", TASKS, suite.build, suite.check, suite.narrow)
        assert done.probes == probes == len(suite.probes)
        if suite is alone:
            assert [c.task for c in done.culprits] == ["f"]
            assert done.shipped == expected.shipped and not done.culprits[0].narrowed
            assert done.runs - done.probes == expected.runs
        else:  # every tree fails test_old: nothing ships, every task goes back, as before
            assert done.shipped == [] and len(done.culprits) == len(TASKS)


def test_no_probe_for_a_chain_of_one_or_a_run_that_names_nothing() -> None:
    suite = Suite({"a": "test_a"})
    done = resolve("main", ["a"], suite.build, suite.check, suite.narrow)
    assert [c.task for c in done.culprits] == ["a"] and suite.probes == [] and done.runs == 1
    done = resolve("main", TASKS[:4], suite.build, suite.check, lambda _failing: None)
    assert [c.task for c in done.culprits] == ["a"] and done.probes == 0


def test_narrowed_16_tasks_with_one_bad_through_the_sized_queue() -> None:
    """The benchmark's case with [checks] focus: the whole checks run twice or three times
    (8 good, then 8 with the culprit and the 7 without it), the rest are probes."""
    for bad in TASKS:
        suite = Suite({bad: f"test_{bad}"})
        done = list(batches("main", TASKS, Sizing(8, 32), suite.build, suite.check,
                            suite.narrow))  # fmt: skip
        assert [c.task for d in done for c in d.culprits] == [bad]
        assert [t for d in done for t in d.shipped] == [t for t in TASKS if t != bad]
        assert len(suite.whole_runs) == 3 and len(suite.probes) == 2 + 3, bad
