"""The merge queue's policy: how many approved merges one run of the checks covers, and how
a batch whose checks fail is bisected to the task(s) that broke it (ADR 0017).

Pure: no git, no board, no process. The caller hands in how to merge a list of tasks onto
a commit (``build``) and how to check a commit (``check``); this module decides what to
merge and what to check, in which order, and what ships.

A batch is a chain: each task's merge is made onto the previous merge, so the chain's
prefixes are the trees a serial integrator would have checked one by one. The checks run
once, on the last merge. When they fail, a binary search over the prefixes finds the
first one that fails (the prefix before it passed, or is the base): its last task is the
culprit, merged onto a tree known to pass. The passing prefix is kept as it is; the
tasks after the culprit are merged again onto it, without the culprit, and checked as a
batch of their own (bisected again if they fail too). One culprit among n costs at most
``1 + ceil(log2 n)`` runs, plus one for the tasks after it when there are any.

Narrowed (ADR 0021): when the caller can run only the tests the failing run named (a
``narrow`` that hands back a probe), the search asks the probe instead of the whole
checks: it first makes sure the base passes those tests and the whole chain fails them,
then searches the prefixes for the first that fails them; that task is the culprit (its
merge turns them from passing to failing). Nothing ships on a probe's word: the batch is
merged again without the culprit and checked whole, bisected again if it fails. One
culprit among n then costs two runs of the checks and ``2 + ceil(log2 n)`` probes. A probe
that cannot tell (the base fails the named tests, or the whole chain passes them) falls
back to the search with whole runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Run(Protocol):
    """What the queue needs of a run of the checks."""

    @property
    def ok(self) -> bool: ...


T = TypeVar("T")
R = TypeVar("R", bound=Run)


@dataclass(frozen=True)
class Link(Generic[T]):
    """One task of a chain and its merge: the tree of every task up to this one."""

    task: T
    commit: str


@dataclass
class Sizing:
    """The batch size: it starts at ``size``, doubles after a chain of merges passes its
    check (up to ``most``) and halves after one fails (down to 1). The chains are the
    batches and, after a culprit, the tasks of its batch merged again without it."""

    size: int
    most: int

    def __post_init__(self) -> None:
        if not 1 <= self.size <= self.most:
            raise ValueError(f"a batch size needs 1 <= size ({self.size}) <= most ({self.most})")

    def after(self, passed: bool) -> int:
        """Adapt to one chain's check and return the next size."""
        self.size = min(self.most, self.size * 2) if passed else max(1, self.size // 2)
        return self.size


@dataclass
class Culprit(Generic[T, R]):
    """A task whose merge failed the checks on a tree that passed them without it."""

    task: T
    run: R  # the failing run of the first prefix that holds it (a probe's, when narrowed)
    below: int  # tasks of its batch merged under it (0: straight onto the base)
    narrowed: bool = False  # found by probes: the tasks under it pass the named tests


@dataclass
class Resolved(Generic[T, R]):
    """What one batch came to: the tasks to ship, merged in order up to ``tip``, and the
    culprits. ``verdicts`` are the checks of whole chains, in order: the batch's, then,
    after each culprit, that of the tasks merged again after it (the size follows each)."""

    tip: str
    shipped: list[T] = field(default_factory=list)
    culprits: list[Culprit[T, R]] = field(default_factory=list)
    verdicts: list[bool] = field(default_factory=list)
    runs: int = 0  # checks asked for (each may have been run again, see the caller's retries)
    probes: int = 0  # of which narrowed runs of the failing tests only
    size: int = 0  # tasks in the batch
    sizes: list[int] = field(default_factory=list)  # the batch size before and after each verdict

    @property
    def passed(self) -> bool:
        """Whether the batch passed at its first check."""
        return not self.verdicts or self.verdicts[0]


def first_failing(count: int, passes: Callable[[int], bool]) -> int:
    """The length of the shortest failing prefix of a chain of ``count`` merges, given that
    the empty prefix passes and the whole chain fails: ``passes(k)`` checks the first
    ``k`` merges. Asks ``ceil(log2 count)`` times."""
    good, bad = 0, count
    while bad - good > 1:
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    return bad


Probe = Callable[[str, Sequence[Link[T]], int], R]
"""``probe(base, chain, size)`` runs only the tests a failing run named, on the last merge
of ``chain`` (on ``base`` when ``chain`` is empty), the first links of a chain of ``size``."""


def _narrowed(
    base: str, chain: Sequence[Link[T]], probe: Probe[T, R], out: Resolved[T, R]
) -> tuple[int, R] | None:
    """The length of the shortest prefix of ``chain`` that fails the probe, and that failing
    run; None when the probe cannot tell (the base fails it or the whole chain passes)."""

    def run(k: int) -> R:
        out.runs += 1
        out.probes += 1
        return probe(base, chain[:k], len(chain))

    if not run(0).ok:
        return None
    whole = run(len(chain))
    if whole.ok:
        return None
    return _first_failing_run(len(chain), whole, run)


def _first_failing_run(count: int, whole: R, run: Callable[[int], R]) -> tuple[int, R]:
    """:func:`first_failing` with runs: the length of the shortest failing prefix and its
    failing run, given ``whole``, the failing run of all ``count``; ``run(k)`` runs the
    first ``k``."""
    failing: dict[int, R] = {count: whole}

    def passes(k: int) -> bool:
        result = run(k)
        if not result.ok:
            failing[k] = result
        return result.ok

    bad = first_failing(count, passes)
    return bad, failing[bad]


def resolve(
    base: str,
    batch: Sequence[T],
    build: Callable[[str, Sequence[T]], list[Link[T]]],
    check: Callable[[Sequence[Link[T]], int], R],
    narrow: Callable[[R], Probe[T, R] | None] = lambda _failing: None,
) -> Resolved[T, R]:
    """Merge ``batch`` onto ``base`` and check it once; bisect when it fails.

    ``build(onto, tasks)`` merges the tasks one onto the other, starting at ``onto``, and
    returns the chain of those that merged (one that cannot merge is the caller's to
    return, and is left out). ``check(chain, size)`` runs the checks on the last merge of
    ``chain`` (the first ``len(chain)`` links of a chain of ``size``). A culprit's run is
    the failing one of the shortest failing prefix. ``narrow(failing)`` hands back a probe
    that runs only what the failing run named (None: run the whole checks)."""
    out: Resolved[T, R] = Resolved(base)
    todo = list(batch)
    while todo:
        chain = build(out.tip, todo)
        if not chain:
            break
        whole = check(chain, len(chain))
        out.runs += 1
        out.verdicts.append(whole.ok)
        if whole.ok:
            out.shipped += [link.task for link in chain]
            out.tip = chain[-1].commit
            break
        probe = narrow(whole) if len(chain) > 1 else None
        found = None if probe is None else _narrowed(out.tip, chain, probe, out)
        if found is not None:
            bad, run = found
            below = len(out.shipped) + bad - 1
            out.culprits.append(Culprit(chain[bad - 1].task, run, below, narrowed=True))
            todo = [link.task for link in chain if link is not chain[bad - 1]]
            continue

        def prefix(k: int, chain: list[Link[T]] = chain) -> R:
            out.runs += 1
            return check(chain[:k], len(chain))

        bad, failed = _first_failing_run(len(chain), whole, prefix)
        good = bad - 1
        if good:
            out.shipped += [link.task for link in chain[:good]]
            out.tip = chain[good - 1].commit
        out.culprits.append(Culprit(chain[bad - 1].task, failed, len(out.shipped)))
        todo = [link.task for link in chain[bad:]]
    return out


def batches(
    tip: str,
    queue: Sequence[T],
    sizing: Sizing,
    build: Callable[[str, Sequence[T]], list[Link[T]]],
    check: Callable[[Sequence[Link[T]], int], R],
    narrow: Callable[[R], Probe[T, R] | None] = lambda _failing: None,
) -> Iterator[Resolved[T, R]]:
    """Take the queue batch after batch, each of the size `sizing` has come to, each
    merged onto what the batch before shipped; yield what each came to (see
    :func:`resolve`, and ``narrow`` there), after the size has followed its verdicts."""
    todo = list(queue)
    while todo:
        batch, todo = todo[: sizing.size], todo[sizing.size :]
        done = resolve(tip, batch, build, check, narrow)
        done.size = len(batch)
        done.sizes = [sizing.size, *(sizing.after(verdict) for verdict in done.verdicts)]
        tip = done.tip
        yield done
