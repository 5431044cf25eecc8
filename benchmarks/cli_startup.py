"""How long the `ainarres` command takes to start and answer, beside the interpreter's own
start and psycopg's import, measured in the same run.

Every command a person or an agent types starts a Python, imports what the command needs
and (for a read) connects to the board and runs one query. The commands timed:

- `ainarres --help` and `ainarres next --help`: no board, no connection; what they cost is
  the interpreter, click and whatever the CLI imports before it can print.
- `ainarres board` and `ainarres board --json`: the operator's view of the board, end to
  end: start, imports, the scram connection over the unix socket, one read, the output.
- `ainarres log --limit 20`: another read, through the event log.

The baselines are `python -c pass` (the floor: an interpreter that does nothing) and
`python -c "import psycopg"` (what any command that talks to the board must pay at least).
Each command runs as `python -m ainarres ...`, as the tests and the hub run it, with the
same interpreter as the baselines, and with `src/ainarres` compiled first (as pip compiles an
installed package; where bytecode may not be written, an editable install would otherwise
compile the modules it imports on every start).

It starts its own embedded PostgreSQL with `ainarres init` in a temporary state directory
(no database URL, so the embedded server; `AINARRES_*` and `PG*` are cleared from the
environment) and stops it with `ainarres db stop` at the end, also on errors. The board is
freshly initialised: its workflow and no tasks (a read of a few rows; the query count, not
the row count, is what a start pays).

The commands run round-robin, N rounds after W warm-up rounds, so load from elsewhere on
the machine falls on all of them alike. For each it prints the median, p90 and minimum wall
time, the median CPU time of the child (user + system: steadier than wall time on a busy
machine), the ratios of the median to both baselines, and the target:

- `--help`, `next --help`: no heavier than the interpreter plus click; the target is below
  the `import psycopg` baseline (they must not import psycopg, pydantic, pygit2, rich,
  cryptography or the agent runner).
- `board`: <= 0.25 s end to end (issue 19).

Then each command runs once under `python -X importtime` and the report lists the heavy
modules it imported and its slowest top-level imports (cumulative microseconds as
importtime reports them, which inflates them a little).

Nothing asserts a timing. Full: N=30, W=3. `--quick`: N=10, W=2. `--json PATH` also writes
every figure. Progress goes to stderr, the report to stdout.

Run from the repository root:  .venv/bin/python benchmarks/cli_startup.py [--quick]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BOARD_TARGET_S = 0.25
HEAVY = (
    "psycopg",
    "pydantic",
    "pygit2",
    "rich",
    "cryptography",
    "ainarres.agents.runner",
    "ainarres.integrate.run",
)
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Config:
    rounds: int
    warmup: int


FULL = Config(rounds=30, warmup=3)
QUICK = Config(rounds=10, warmup=2)


@dataclass(frozen=True)
class Case:
    label: str
    argv: tuple[str, ...]
    target: str  # "psycopg": below the import psycopg baseline; "board": <= BOARD_TARGET_S
    ainarres: bool = True


PY = sys.executable
BASELINES = (
    Case("python -c pass", ("-c", "pass"), "", ainarres=False),
    Case('python -c "import psycopg"', ("-c", "import psycopg"), "", ainarres=False),
)
COMMANDS = (
    Case("ainarres --help", ("--help",), "psycopg"),
    Case("ainarres next --help", ("next", "--help"), "psycopg"),
    Case("ainarres board", ("board",), "board"),
    Case("ainarres board --json", ("board", "--json"), "board"),
    Case("ainarres log --limit 20", ("log", "--limit", "20"), ""),
)


@dataclass
class Row:
    label: str
    median_ms: float
    p90_ms: float
    min_ms: float
    cpu_median_ms: float
    ratio_pass: float = 0.0
    ratio_psycopg: float = 0.0
    target: str = ""
    verdict: str = ""
    heavy: list[str] = field(default_factory=list)
    slowest: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Report:
    mode: str
    config: dict[str, Any]
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.monotonic() - _STARTED:7.1f}s] {message}\n")
    sys.stderr.flush()


def argv_of(case: Case) -> list[str]:
    return [PY, *case.argv] if not case.ainarres else [PY, "-m", "ainarres", *case.argv]


def clean_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINARRES_", "PG"))}
    env["AINARRES_HOME"] = str(state_dir)
    return env


def run_checked(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds (user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def imports_of(argv: Sequence[str], env: dict[str, str]) -> tuple[list[str], list[tuple[str, int]]]:
    """The heavy modules a command imports, and its five slowest top-level imports."""
    done = run_checked([argv[0], "-X", "importtime", *argv[1:]], env)
    loaded: set[str] = set()
    top: list[tuple[str, int]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        loaded.add(name.strip())
        if not name.startswith("  "):  # one space after the bar: a top-level import
            top.append((name.strip(), int(cumulative)))
    heavy = sorted(h for h in HEAVY if h in loaded)
    return heavy, sorted(top, key=lambda t: -t[1])[:5]


def measure(cfg: Config, env: dict[str, str]) -> list[Row]:
    cases = (*BASELINES, *COMMANDS)
    walls: dict[str, list[float]] = {c.label: [] for c in cases}
    cpus: dict[str, list[float]] = {c.label: [] for c in cases}
    for i in range(cfg.warmup + cfg.rounds):
        # Rotate the order each round, so no command always runs right after another.
        shift = i % len(cases)
        for case in (*cases[shift:], *cases[:shift]):
            wall, cpu = timed(argv_of(case), env)
            if i >= cfg.warmup:
                walls[case.label].append(wall)
                cpus[case.label].append(cpu)
    rows = []
    for case in cases:
        w = sorted(walls[case.label])
        rows.append(
            Row(
                label=case.label,
                median_ms=statistics.median(w) * 1000,
                p90_ms=w[min(len(w) - 1, int(len(w) * 0.9))] * 1000,
                min_ms=w[0] * 1000,
                cpu_median_ms=statistics.median(cpus[case.label]) * 1000,
                target=case.target,
            )
        )
    floor, psycopg = rows[0].median_ms, rows[1].median_ms
    for row, case in zip(rows, cases, strict=True):
        row.ratio_pass = row.median_ms / floor
        row.ratio_psycopg = row.median_ms / psycopg
        if case.target == "psycopg":
            row.target = "< import psycopg"
            row.verdict = "meets target" if row.median_ms < psycopg else "MISSES TARGET"
        elif case.target == "board":
            row.target = f"<= {BOARD_TARGET_S:.2f} s"
            ok = row.median_ms <= BOARD_TARGET_S * 1000
            row.verdict = "meets target" if ok else "MISSES TARGET"
        if case.ainarres:
            row.heavy, row.slowest = imports_of(argv_of(case), env)
    return rows


def run(cfg: Config, mode: str) -> Report:
    report = Report(
        mode=mode,
        config=asdict(cfg),
        machine={
            "python": platform.python_version(),
            "cpus": str(os.cpu_count()),
            "machine": platform.machine(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
    )
    # As an installed package starts: with its modules compiled. An editable install whose
    # environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE, on CI and here) would
    # compile every module it imports on each start.
    progress("compiling src/ainarres")
    compileall.compile_dir(Path(__file__).parents[1] / "src" / "ainarres", quiet=1)
    tmp = Path(tempfile.mkdtemp(prefix="ainarres-cli-bench-"))
    env = clean_env(tmp / "state")
    try:
        progress("ainarres init (embedded PostgreSQL)")
        run_checked([PY, "-m", "ainarres", "init"], env)
        try:
            progress(f"timing {len(BASELINES) + len(COMMANDS)} commands, {cfg.rounds} rounds")
            report.rows = measure(cfg, env)
        finally:
            progress("ainarres db stop")
            subprocess.run([PY, "-m", "ainarres", "db", "stop"], env=env, capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return report


def render(report: Report) -> str:
    m = report.machine
    lines = [
        f"ainarres CLI start benchmark ({report.mode}, {report.config['rounds']} rounds)",
        f"python {m['python']}; {m['cpus']} CPUs ({m['machine']}); "
        f"load average {m['load']} before, {m['load_after']} after",
        "",
        f"   {'command':<28}  {'median ms':>9}  {'p90 ms':>7}  {'min ms':>7}  {'CPU ms':>7}"
        f"  {'x pass':>6}  {'x psycopg':>9}  target",
    ]
    for r in report.rows:
        target = f"{r.target} ({r.verdict})" if r.target else ""
        lines.append(
            f"   {r.label:<28}  {r.median_ms:>9.1f}  {r.p90_ms:>7.1f}  {r.min_ms:>7.1f}"
            f"  {r.cpu_median_ms:>7.1f}  {r.ratio_pass:>6.2f}  {r.ratio_psycopg:>9.2f}  {target}"
        )
    lines += [
        "",
        "   (CPU ms is the child's user + system time, steadier than wall time under load;",
        "    x pass and x psycopg are the median over each baseline's median)",
        "",
        "Imports, one run each under -X importtime (cumulative us, as importtime reports)",
        "",
    ]
    for r in report.rows:
        if not r.slowest:
            continue
        lines.append(f"   {r.label}: heavy modules: {', '.join(r.heavy) or 'none'}")
        lines += [f"      {us:>9,}  {name}" for name, us in r.slowest]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 rounds instead of 30")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    report = run(QUICK if args.quick else FULL, mode)
    sys.stdout.write(render(report) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        progress(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
