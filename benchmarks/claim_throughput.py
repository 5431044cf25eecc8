"""Claim throughput and claim latency of the board, beside pgbench on the same server.

What it measures, in one run on one embedded PostgreSQL it starts in a temporary state
directory (and stops at the end):

1. Throughput. For 1, 2, 4 and 8 worker *processes*, a fresh batch of tasks (10,000) is
   created in stage `implement` by a designer family through `ainarres.create_task` (the
   verb agents use, in one generate_series statement). Each worker connects as the
   implementer family's own role (scram password over the unix socket), registers an agent,
   waits at a common barrier, then loops `claim_next` -> `advance` until the claim says
   `empty`. Wall time runs from the barrier's release to the last worker's end; the figure
   is claim+advance cycles per second (one cycle = two verb calls = two transactions).

2. The baseline: pgbench's default TPC-B-like script (`pgbench -i -s 10` in its own
   database, then `pgbench -c N -j N -T seconds`) on the same server, same clients, same
   socket, same durability settings. A TPC-B transaction is five statements (three updates,
   a select, an insert) in one transaction of small rows under contention: the same order
   of work as one claim or one advance, written by PostgreSQL's own authors in C. The ratio
   cycles/s / TPS therefore says how much of the server's short-transaction capacity the
   board's cycle leaves on the table (plpgsql, JSON outcomes, a Python client, the event
   log). The target is >= 40% at 4 workers. The two never run at the same time.

3. Claim latency against table size: a single process times `claim_next` alone (each
   claim is followed by an untimed `advance`) with 1,000 tasks in the table and with
   1,000,000 (bulk-inserted by the operator with one INSERT ... SELECT generate_series,
   then ANALYZE), all open in stage `implement`. The claim walks the partial index
   `tasks_claim (stage_id, priority DESC, seq) WHERE open AND NOT blocked` and should not
   care how deep the queue is: the target is p50 and p99 at 1M within 1.5x of 1k. The
   1k table cannot feed 2,000 claims, so it is refilled in rounds (TRUNCATE, insert 1,000,
   ANALYZE, claim them all); the 1M table is filled once. The script also prints
   EXPLAIN (ANALYZE, BUFFERS) of the claim's inner query at 1M, the same SELECT ... FOR
   UPDATE SKIP LOCKED LIMIT 1 that `claim_next` runs (migrations/0002_verbs.sql), so a
   reader can see it walks `tasks_claim`.

A benchmark is not a test: nothing here asserts a timing. It prints figures, ratios and the
targets beside them. `--quick` runs a smaller version (2,000 tasks, a 100k table, pgbench
-T 3); `--json PATH` also writes the figures. Progress goes to stderr, the report to stdout.

Run from the repository root:  .venv/bin/python benchmarks/claim_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import procrastinate_baseline

from ainarres.board import admin, migrate
from ainarres.board.db import Connection, open_connection
from ainarres.board.embedded import DATABASE, EmbeddedServer, _bin_dir
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import family_file, read_credential

DESIGNER = "bench-designer"
IMPLEMENTER = "bench-implementer"
PGBENCH_DB = "pgbench"
CLIENT_COUNTS = (1, 2, 4, 8)
THROUGHPUT_TARGET = 0.40  # ainarres cycles/s over pgbench TPS, at 4 workers
LOOP_TARGET = 0.45  # the agent's loop (done+next) over pgbench TPS, at 4 workers (issue 19)
LATENCY_TARGET = 1.5  # p50 and p99 at the large table over the small one
SMALL_TABLE = 1_000
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Config:
    tasks: int
    pgbench_scale: int
    pgbench_seconds: int
    large_table: int
    latency_samples: int
    latency_warmup: int


FULL = Config(tasks=10_000, pgbench_scale=10, pgbench_seconds=10, large_table=1_000_000,
              latency_samples=2_000, latency_warmup=50)  # fmt: skip
QUICK = Config(tasks=2_000, pgbench_scale=10, pgbench_seconds=3, large_table=100_000,
               latency_samples=1_000, latency_warmup=50)  # fmt: skip


@dataclass
class ThroughputRow:
    clients: int
    tasks: int
    seconds: float
    cycles_per_s: float
    pgbench_tps: float
    ratio: float
    client_cpu_ms_per_cycle: float  # the worker processes' own CPU (Python, psycopg, pydantic)
    # The same cycles with `advance_and_claim` ("done, and the next"): one transaction each.
    combined_cycles_per_s: float = 0.0
    combined_ratio: float = 0.0
    # procrastinate's workers emptying a queue of as many no-op jobs (procrastinate_baseline)
    procrastinate_jobs_per_s: float = 0.0
    procrastinate_ratio: float = 0.0


@dataclass
class Latency:
    table_rows: int
    samples: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


@dataclass
class Report:
    mode: str
    config: dict[str, Any]
    server: dict[str, str]
    throughput: list[ThroughputRow] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    latency_ratio_p50: float = 0.0
    latency_ratio_p99: float = 0.0
    explain: str = ""


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.monotonic() - _STARTED:7.1f}s] {message}\n")
    sys.stderr.flush()


# -- the board -------------------------------------------------------------------------


class Bench:
    """The embedded server, the migrated board database and the two families."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.server = EmbeddedServer(state_dir)
        self.operator_cred = self.server.ensure_running()
        self.settings = Settings(state_dir, None)

    def operator(self, dbname: str = DATABASE) -> Connection:
        return open_connection(self.server.conninfo(self.operator_cred, dbname))

    def conninfo(self, dbname: str) -> dict[str, str]:
        """The superuser's, on another database of the server (the baselines')."""
        return self.server.conninfo(self.operator_cred, dbname)

    def procrastinate_succeeded(self) -> int:
        with self.operator(procrastinate_baseline.DATABASE) as conn:
            row = conn.execute("SELECT count(*) AS n FROM procrastinate_jobs "
                               "WHERE status = 'succeeded'").fetchone()  # fmt: skip
        return int(row["n"]) if row else 0

    def family_conninfo(self, family: str) -> dict[str, str]:
        cred = read_credential(family_file(self.state_dir, family), f"family {family}")
        return self.server.conninfo(cred)

    def setup_board(self) -> None:
        with self.operator() as conn:
            migrate.migrate(conn)
            for family, role in ((DESIGNER, "designer"), (IMPLEMENTER, "implementer")):
                out = admin.add_family(conn, self.settings, family, "bench", "m", "bench")
                if not out.ok:
                    raise SystemExit(f"cannot add family {family}: {out.message}")
                out = admin.grant(conn, family, role)
                if not out.ok:
                    raise SystemExit(f"cannot grant {role} to {family}: {out.message}")

    def server_facts(self) -> dict[str, str]:
        with self.operator() as conn:
            version = conn.execute("SELECT version() AS v").fetchone()
            assert version is not None
            facts = {"version": str(version["v"])}
            for name in ("shared_buffers", "synchronous_commit", "fsync", "max_connections"):
                row = conn.execute(f"SHOW {name}".encode()).fetchone()
                assert row is not None
                facts[name] = str(row[name])
            applied = migrate.applied(conn)
        facts["migrations"] = ", ".join(name for name, _ in applied.values())
        facts["cpus"] = str(os.cpu_count())
        facts["machine"] = f"{platform.system()} {platform.machine()}"
        return facts

    def stage_id(self, conn: Connection, name: str) -> int:
        row = conn.execute(
            "SELECT s.id FROM ainarres.stages s JOIN ainarres.workflows w ON w.id = s.workflow_id "
            "WHERE w.name = 'dev' AND s.name = %s",
            (name,),
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def create_tasks(self, count: int) -> float:
        """`count` tasks in stage implement, made by the designer through create_task."""
        started = time.monotonic()
        with open_connection(self.family_conninfo(DESIGNER)) as conn:
            agent = Agent.start(conn, "seeder")
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE r->>'outcome' = 'ok') AS made FROM ("
                " SELECT ainarres.create_task(%s, 'bench task ' || i, '', 0, '{}'::uuid[],"
                "                             NULL, 'dev') AS r"
                " FROM generate_series(1, %s) AS i) AS x",
                (agent.id, count),
            ).fetchone()
        assert row is not None
        if row["made"] != count:
            raise SystemExit(f"create_task made {row['made']} of {count} tasks")
        return time.monotonic() - started

    def bulk_fill(self, count: int) -> None:
        """The operator inserts `count` open tasks in stage implement, then ANALYZE."""
        with self.operator() as conn:
            conn.execute("TRUNCATE ainarres.tasks CASCADE")
            implement = self.stage_id(conn, "implement")
            conn.execute(
                "INSERT INTO ainarres.tasks (workflow_id, stage_id, title, created_by) "
                "SELECT s.workflow_id, s.id, 'bulk task ' || i, current_user "
                "FROM ainarres.stages s, generate_series(1, %s) AS i WHERE s.id = %s",
                (count, implement),
            )
            conn.execute("ANALYZE ainarres.tasks")

    def vacuum(self) -> None:
        with self.operator() as conn:
            conn.execute("VACUUM ANALYZE ainarres.tasks")
            conn.execute("VACUUM ANALYZE ainarres.events")
            conn.execute("VACUUM ANALYZE ainarres.agents")


# -- 1. throughput ---------------------------------------------------------------------


def _worker(
    conninfo: dict[str, str], name: str, barrier: Barrier, results: Any, combined: bool = False
) -> None:  # results: multiprocessing.Queue, untyped there
    """One agent process: connect as the family, wait at the barrier, claim and advance
    (two verbs per cycle), or with `combined` use advance_and_claim (one per cycle)."""
    try:
        with open_connection(conninfo) as conn:
            agent = Agent.start(conn, name)
            barrier.wait(timeout=120)
            start = time.monotonic()
            cpu_start = _cpu_seconds()
            cycles = 0
            out = agent.claim_next()
            while True:
                if out.outcome == "empty":
                    break
                if not out.ok or out.task is None or out.epoch is None:
                    raise RuntimeError(f"claim_next: {out.outcome}: {out.message}")
                task_id, epoch = out.task.id, out.epoch
                if combined:
                    out = agent.advance_and_claim(task_id, epoch)
                    if out.done is None or not out.done.ok:
                        raise RuntimeError(f"advance_and_claim: {out.outcome}: {out.message}")
                else:
                    done = agent.advance(task_id, epoch)
                    if not done.ok:
                        raise RuntimeError(f"advance: {done.outcome}: {done.message}")
                    out = agent.claim_next()
                cycles += 1
            end = time.monotonic()
            results.put((name, cycles, start, end, _cpu_seconds() - cpu_start, None))
    except BaseException:
        results.put((name, 0, 0.0, 0.0, 0.0, traceback.format_exc()))


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def run_throughput(
    bench: Bench, clients: int, tasks: int, combined: bool = False
) -> tuple[float, float, float]:
    """(seconds, cycles per second, client CPU ms per cycle) for `clients` worker processes
    over `tasks` tasks."""
    made_in = bench.create_tasks(tasks)
    progress(f"  {tasks} tasks created by the designer via create_task in {made_in:.1f}s")
    # Statistics as autovacuum would leave them in steady state. Taken before the tasks
    # exist, they make the planner sort the whole stage on every claim (see README).
    bench.vacuum()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    info = bench.family_conninfo(IMPLEMENTER)
    procs = [
        ctx.Process(target=_worker, args=(info, f"worker{i}", barrier, results, combined))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    got: list[tuple[str, int, float, float, float, str | None]] = []
    while len(got) < clients:
        try:
            got.append(results.get(timeout=1))
        except queue.Empty:
            # A child that died before reporting (an import error, a kill) must not hang us.
            if not any(p.is_alive() for p in procs) and results.empty():
                codes = [p.exitcode for p in procs]
                raise SystemExit(f"worker processes ended without reporting: {codes}") from None
    for p in procs:
        p.join(timeout=30)
    errors = [r[5] for r in got if r[5]]
    if errors:
        raise SystemExit("a worker failed:\n" + errors[0])
    cycles = sum(r[1] for r in got)
    if cycles != tasks:
        raise SystemExit(f"workers advanced {cycles} tasks, expected {tasks}")
    seconds = max(r[3] for r in got) - min(r[2] for r in got)
    per_worker = ", ".join(str(r[1]) for r in sorted(got))
    progress(f"  per worker: {per_worker}")
    client_cpu_ms = sum(r[4] for r in got) * 1000 / cycles
    return seconds, cycles / seconds, client_cpu_ms


# -- 2. pgbench ------------------------------------------------------------------------


def pgbench_env(bench: Bench) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=str(bench.server.socket_dir),
        PGPORT="5432",
        PGUSER=bench.operator_cred.user,
        PGPASSWORD=bench.operator_cred.password,
        PGDATABASE=PGBENCH_DB,
    )
    return env


def pgbench(bench: Bench, *args: str) -> str:
    proc = subprocess.run(
        [str(_bin_dir() / "pgbench"), *args],
        capture_output=True,
        text=True,
        env=pgbench_env(bench),
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"pgbench {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
    return proc.stdout + proc.stderr


def pgbench_init(bench: Bench, scale: int) -> None:
    with bench.operator("postgres") as conn:
        conn.execute(f"CREATE DATABASE {PGBENCH_DB}".encode())
    pgbench(bench, "-i", "-q", "-s", str(scale))


_TPS = re.compile(r"^tps = ([0-9.]+) \(([^)]*)\)", re.M)


def pgbench_tps(bench: Bench, clients: int, seconds: int) -> float:
    return tps_of(pgbench(bench, "-c", str(clients), "-j", str(clients), "-T", str(seconds)))


def tps_of(out: str) -> float:
    """pgbench's TPS without the initial connection time, from its output."""
    found = {label: float(value) for value, label in _TPS.findall(out)}
    for label, tps in found.items():
        if "without initial connection" in label:
            return tps
    if found:
        return next(iter(found.values()))
    raise SystemExit(f"no `tps = ` line in pgbench output:\n{out}")


# -- 3. latency ------------------------------------------------------------------------


def run_latency(bench: Bench, table_rows: int, samples: int, warmup: int) -> Latency:
    """Time `claim_next` alone, each followed by an untimed advance, with `table_rows` tasks.

    A table smaller than the claims needed is refilled in rounds; every round starts from
    TRUNCATE, `table_rows` fresh tasks and ANALYZE.
    """
    timings: list[float] = []
    needed = samples + warmup
    claimed = 0
    with open_connection(bench.family_conninfo(IMPLEMENTER)) as conn:
        agent = Agent.start(conn, f"latency{table_rows}")
        while claimed < needed:
            bench.bulk_fill(table_rows)
            for _ in range(min(table_rows, needed - claimed)):
                t0 = time.perf_counter()
                out = agent.claim_next()
                elapsed = time.perf_counter() - t0
                if not out.ok or out.task is None or out.epoch is None:
                    raise SystemExit(f"claim_next: {out.outcome}: {out.message}")
                done = agent.advance(out.task.id, out.epoch)
                if not done.ok:
                    raise SystemExit(f"advance: {done.outcome}: {done.message}")
                if claimed >= warmup:
                    timings.append(elapsed * 1000)
                claimed += 1
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return Latency(table_rows, len(timings), cuts[49], cuts[98], statistics.fmean(timings),
                   max(timings))  # fmt: skip


def explain_claim(bench: Bench) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of claim_next's inner query for the implementer's stage,
    in a transaction rolled back afterwards (FOR UPDATE really locks the row)."""
    with bench.operator() as conn:
        implement = bench.stage_id(conn, "implement")
        with conn.transaction(force_rollback=True):
            rows = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                # The same statement as claim_next's (migrations/0010_lapses_by_family.sql),
                # with the function's variables as parameters: agent, family, first pass.
                "SELECT c.* FROM ainarres.stages s "
                "JOIN ainarres.workflows w ON w.id = s.workflow_id "
                "CROSS JOIN LATERAL ("
                " SELECT t.* FROM ainarres.tasks t"
                " WHERE t.stage_id = s.id AND t.open AND NOT t.blocked"
                "   AND (t.lease_expires_at IS NULL OR t.lease_expires_at < now())"
                "   AND t.open_deps = 0"
                "   AND NOT (s.reviews_branch AND t.writer_agent IS NOT DISTINCT FROM %s::uuid)"
                "   AND NOT (s.reviews_branch AND w.cross_review = 'require'"
                "            AND t.writer_family IS NOT DISTINCT FROM %s::bigint)"
                "   AND NOT (true AND s.reviews_branch AND w.cross_review = 'prefer'"
                "            AND t.writer_family IS NOT DISTINCT FROM %s::bigint)"
                " ORDER BY t.priority DESC, t.seq"
                " LIMIT 1"
                " FOR NO KEY UPDATE SKIP LOCKED) c "
                "WHERE s.id = ANY(%s::bigint[]) "
                "ORDER BY c.priority DESC, c.seq "
                "LIMIT 1",
                (None, None, None, [implement]),
            ).fetchall()
    return "\n".join(str(r["QUERY PLAN"]) for r in rows)


# -- the run ---------------------------------------------------------------------------


def run(cfg: Config, mode: str) -> Report:
    with tempfile.TemporaryDirectory(prefix="ainarres-bench-") as tmp:
        state_dir = Path(tmp) / ".ainarres"
        progress(f"starting an embedded PostgreSQL under {state_dir}")
        bench = Bench(state_dir)
        try:
            bench.setup_board()
            report = Report(mode, asdict(cfg), bench.server_facts())
            progress(f"pgbench -i -s {cfg.pgbench_scale} in database {PGBENCH_DB}")
            pgbench_init(bench, cfg.pgbench_scale)
            with bench.operator("postgres") as conn:
                conn.execute(f"CREATE DATABASE {procrastinate_baseline.DATABASE}".encode())
            procrastinate_baseline.install(bench.conninfo(procrastinate_baseline.DATABASE))
            for clients in CLIENT_COUNTS:
                progress(f"ainarres: {clients} worker process(es) over {cfg.tasks} tasks")
                seconds, rate, cpu_ms = run_throughput(bench, clients, cfg.tasks)
                progress(
                    f"  {rate:,.0f} cycles/s ({seconds:.2f}s; client CPU {cpu_ms:.2f} ms/cycle)"
                )
                progress(f"pgbench: -c {clients} -j {clients} -T {cfg.pgbench_seconds}")
                tps = pgbench_tps(bench, clients, cfg.pgbench_seconds)
                progress(f"  {tps:,.0f} tps")
                progress(f"ainarres done+next: {clients} worker process(es) over {cfg.tasks} tasks")
                _, both, _ = run_throughput(bench, clients, cfg.tasks, combined=True)
                progress(f"  {both:,.0f} cycles/s with advance_and_claim")
                progress(f"procrastinate: {clients} worker process(es) over {cfg.tasks} jobs")
                queue_db = bench.conninfo(procrastinate_baseline.DATABASE)
                made = procrastinate_baseline.prepare(queue_db, cfg.tasks)
                progress(f"  {cfg.tasks} jobs deferred in {made:.1f}s")
                spent = procrastinate_baseline.run(queue_db, clients)
                done = bench.procrastinate_succeeded()
                if done != cfg.tasks:
                    raise SystemExit(f"procrastinate did {done} jobs, expected {cfg.tasks}")
                jobs = done / spent
                progress(f"  {jobs:,.0f} jobs/s")
                report.throughput.append(
                    ThroughputRow(
                        clients, cfg.tasks, seconds, rate, tps, rate / tps, cpu_ms, both,
                        both / tps, jobs, jobs / tps,
                    )
                )  # fmt: skip
            for rows in (SMALL_TABLE, cfg.large_table):
                progress(f"latency: {cfg.latency_samples} claims with {rows:,} tasks in the table")
                lat = run_latency(bench, rows, cfg.latency_samples, cfg.latency_warmup)
                progress(f"  p50 {lat.p50_ms:.3f} ms, p99 {lat.p99_ms:.3f} ms")
                report.latency.append(lat)
            progress(f"EXPLAIN of the claim at {cfg.large_table:,} tasks")
            report.explain = explain_claim(bench)
            small, large = report.latency
            report.latency_ratio_p50 = large.p50_ms / small.p50_ms
            report.latency_ratio_p99 = large.p99_ms / small.p99_ms
            return report
        finally:
            progress("stopping the server")
            bench.server.stop()
            if not bench.server.socket_dir.is_relative_to(tmp):
                shutil.rmtree(bench.server.socket_dir, ignore_errors=True)


def render(report: Report) -> str:
    def mark(ok: bool) -> str:
        return "meets target" if ok else "BELOW TARGET"

    lines = [
        f"ainarres claim benchmark ({report.mode})",
        f"server: {report.server['version'].split(' on ')[0]}; "
        f"{report.server['cpus']} CPUs ({report.server['machine']}); "
        f"shared_buffers {report.server['shared_buffers']}, "
        f"synchronous_commit {report.server['synchronous_commit']}, "
        f"fsync {report.server['fsync']}",
        f"migrations: {report.server['migrations']}",
        "",
        f"1. Throughput: claim_next + advance cycles over {report.config['tasks']:,} tasks, "
        "one worker process per client,",
        f"   beside pgbench TPC-B (scale {report.config['pgbench_scale']}, "
        f"-T {report.config['pgbench_seconds']}, tps without initial connection time)",
        "",
        f"   {'clients':>7}  {'ainarres cycles/s':>17}  {'pgbench TPS':>11}  {'ratio':>6}"
        f"  {'client CPU ms/cycle':>19}  {'done+next/s':>11}  {'ratio':>6}"
        f"  {'procrastinate jobs/s':>20}  {'ratio':>6}",
    ]
    for row in report.throughput:
        lines.append(
            f"   {row.clients:>7}  {row.cycles_per_s:>17,.0f}  {row.pgbench_tps:>11,.0f}"
            f"  {row.ratio:>6.1%}  {row.client_cpu_ms_per_cycle:>19.2f}"
            f"  {row.combined_cycles_per_s:>11,.0f}  {row.combined_ratio:>6.1%}"
            f"  {row.procrastinate_jobs_per_s:>20,.0f}  {row.procrastinate_ratio:>6.1%}"
        )
    at4 = next((r for r in report.throughput if r.clients == 4), None)
    if at4 is not None:
        lines.append(
            f"   target: at 4 workers ainarres >= {THROUGHPUT_TARGET:.0%} of pgbench; "
            f"measured {at4.ratio:.1%} ({mark(at4.ratio >= THROUGHPUT_TARGET)}); "
            f"with done+next {at4.combined_ratio:.1%}, target >= {LOOP_TARGET:.0%} "
            f"({mark(at4.combined_ratio >= LOOP_TARGET)}); procrastinate "
            f"{at4.procrastinate_ratio:.1%}, done+next / procrastinate "
            f"{at4.combined_cycles_per_s / at4.procrastinate_jobs_per_s:.2f}x"
        )
    lines += [
        "   (one cycle is two transactions: claim_next, then advance; client CPU is the",
        "    workers' own user+system time per cycle, Python side only; done+next is the",
        "    same work through advance_and_claim, one transaction per cycle, which is what",
        "    an agent's loop does: this one is done, give me the next; procrastinate 3.10's",
        "    own workers do a fetch and a finish per job, two transactions, on the same",
        "    server: see benchmarks/procrastinate_baseline.py)",
        "",
        "2. Claim latency, single process, claim_next timed alone (client round trip included)",
        "",
        f"   {'tasks in table':>14}  {'samples':>7}  {'p50 ms':>7}  {'p99 ms':>7}"
        f"  {'mean ms':>7}  {'max ms':>7}",
    ]
    for lat in report.latency:
        lines.append(
            f"   {lat.table_rows:>14,}  {lat.samples:>7}  {lat.p50_ms:>7.3f}  {lat.p99_ms:>7.3f}"
            f"  {lat.mean_ms:>7.3f}  {lat.max_ms:>7.3f}"
        )
    small, large = report.latency
    lines += [
        f"   ratio {large.table_rows:,}/{small.table_rows:,}: p50 {report.latency_ratio_p50:.2f}, "
        f"p99 {report.latency_ratio_p99:.2f}; target <= {LATENCY_TARGET} "
        f"({mark(max(report.latency_ratio_p50, report.latency_ratio_p99) <= LATENCY_TARGET)})",
        "",
        f"3. EXPLAIN (ANALYZE, BUFFERS) of claim_next's inner query at {large.table_rows:,} tasks",
        "   (after the latency run; FOR UPDATE rolled back)",
        "",
        *("   " + line for line in report.explain.splitlines()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run: 2,000 tasks, a 100k table, pgbench -T 3")  # fmt: skip
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
