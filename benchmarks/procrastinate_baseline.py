"""procrastinate as a second baseline for claim_throughput.py: another PostgreSQL job
queue written in Python, on the same server, in the same run.

procrastinate 3.10 (a dev dependency) gets a database of its own on the benchmark's
server, its schema applied by its own schema manager. N jobs of one task that does
nothing are deferred in one batch (setup, not timed). Then W worker *processes* each run
`run_worker_async(wait=False, concurrency=1)`, procrastinate's own worker loop, until the
queue is empty: each job is a fetch (procrastinate_fetch_job_v2, one transaction) and a
finish (procrastinate_finish_job, another), the same shape as ainarres's claim_next +
advance. LISTEN/NOTIFY is off (the queue is full from the start, nobody waits) and
finished jobs are kept, as ainarres keeps its tasks. Wall time runs from a common barrier
to the last worker's end; the figure is jobs per second.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
import traceback
from multiprocessing.synchronize import Barrier
from typing import Any

DATABASE = "procrastinate"
TASK = "bench_noop"


def _app(conninfo: dict[str, str]) -> Any:
    """A procrastinate App with the benchmark's one task (imported here: a dev dependency).
    The connection's parameters go to its psycopg pool as they are."""
    from procrastinate import App, PsycopgConnector

    connector = PsycopgConnector(conninfo="", kwargs=conninfo, min_size=1, max_size=2)
    app = App(connector=connector)

    @app.task(name=TASK)
    def noop() -> None:
        return None

    return app


def install(conninfo: dict[str, str]) -> None:
    """Apply procrastinate's schema, with its own schema manager, to an empty database."""
    app = _app(conninfo)

    async def go() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    asyncio.run(go())


def prepare(conninfo: dict[str, str], jobs: int) -> float:
    """Empty the jobs table and defer `jobs` jobs in one batch; seconds taken."""
    started = time.monotonic()
    app = _app(conninfo)

    async def go() -> None:
        async with app.open_async():
            await app.connector.execute_query_async(
                "TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")  # fmt: skip
            await app.tasks[TASK].batch_defer_async(*({} for _ in range(jobs)))

    asyncio.run(go())
    return time.monotonic() - started


def _worker(conninfo: dict[str, str], barrier: Barrier, results: Any) -> None:
    try:
        app = _app(conninfo)

        async def go() -> tuple[float, float]:
            async with app.open_async():
                barrier.wait(timeout=120)
                start = time.monotonic()
                await app.run_worker_async(wait=False, concurrency=1, listen_notify=False,
                                           install_signal_handlers=False)  # fmt: skip
                return start, time.monotonic()

        start, end = asyncio.run(go())
        results.put((start, end, None))
    except BaseException:
        results.put((0.0, 0.0, traceback.format_exc()))


def run(conninfo: dict[str, str], clients: int) -> float:
    """Seconds for `clients` worker processes to empty the queue."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(conninfo, barrier, results)) for _ in range(clients)]
    for p in procs:
        p.start()
    got: list[tuple[float, float, str | None]] = []
    while len(got) < clients:
        try:
            got.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                raise SystemExit("procrastinate workers ended without reporting") from None
    for p in procs:
        p.join(timeout=30)
    errors = [r[2] for r in got if r[2]]
    if errors:
        raise SystemExit("a procrastinate worker failed:\n" + errors[0])
    return max(r[1] for r in got) - min(r[0] for r in got)
