"""What the hub's gate costs a push, and what `ainarres integrate` costs against plain git.

Everything runs in one process tree, in a temporary folder: the script starts its own
embedded PostgreSQL, migrates a template database once, and gives each project its own
board database copied from it (as tests/conftest.py does). A project is wired as in
tests/scenario.py: families with ssh signing keys (designer, implementer, reviewer,
integrator), a hub made by `project.init_hub` and bound to the board, and a clone of it.
The server is stopped and the folder removed at the end. Progress goes to stderr, the
report to stdout; nothing asserts a timing.

1. Task-branch push. The implementer family holds a task's live lease and pushes its
   branch, signed, with the `ainarres-epoch=N` push option, as `ainarres push` does (and
   tests/gate/test_gate_push.py::test_gate_lease_holder_pushes_its_task_branch). Each of
   N rounds makes one new commit on the branch and pushes it, with the very same `git
   push --signed -o ainarres-epoch=N` command, to four hubs made from the same history
   and configured alike (nonce seed, allowed signers, fsckObjects, push options):

   a. plain: no hook at all. git alone. Note that git only verifies a push certificate
      when a receive hook exists (receive-pack checks the signature just before it runs
      the first hook), so this hub skips `ssh-keygen -Y verify` too;
   a'. sh hook: `exit 0` in /bin/sh. git now verifies the certificate and starts a hook:
      what any pre-receive hook costs before its own work;
   b. null hook: a pre-receive hook that starts the same interpreter with the same flags
      (`-I`), imports what the gate imports on a signed push (`ainarres.gate.hook`,
      `ainarres.board.gate_facts`, hence psycopg), reads its stdin and exits 0. With a
      hook present git verifies the certificate, so (b) is every cost of "a Python
      hook" that the gate cannot avoid by being written better;
   c. the installed gate, bound to the board, judging in the hook's own process (no
      resident gate: the hook's stdlib shim starts the full gate);
   d. the same gate resident (`ainarres hub gate`, a process started once beside a twin
      hub bound to the same board): the hook is the shim, which hands the push over a
      unix socket. Target (issue 19): resident gate <= 2.5x plain.

   The pushes of one round go to the hubs in a rotating order. The report gives
   median and p90 per push and the ratios; the target is gate <= 1.3x null hook. The
   difference (c) - (b) is the gate's own work: reading the certificate, one board
   connection and its queries, the policy, the nonce ledger.

2. History-size independence. Two projects whose main was imported from a source
   repository made with `git fast-import` (one small file changed per commit) with 100
   and with HISTORY commits, before the hooks were installed. On each, approved tasks
   claimed by the integrator are merged one at a time onto main (`git merge --no-ff` with
   the `Ainarres-Task` trailer, as integrate writes it) and the integrator pushes main,
   signed. The whole push is timed, through the gate and, as a baseline, to a null-hook
   hub of the same history. Target: the gate push at HISTORY commits <= 1.2x the push at
   100. The gate's three git calls (`merge-base --is-ancestor old new`, `log --first-parent
   old..new`, and per merge `merge-tree --write-tree` of its parents) are also timed alone
   on each hub.

3. Integrating M approved tasks. M tasks are created, implemented (a new file each),
   pushed and reviewed: that is setup, not measured. Then `integrate()` (the library
   function behind `ainarres integrate`, checks off, mirror already cloned as it is after
   the first run) is timed: claims, in-memory merges, one signed push through the gate,
   M advances. The baseline is what a person does with plain git against an ungated
   bare hub holding the same branches: in a normal clone, one `git fetch`, then for each
   branch `git checkout main`, `git merge --no-ff`, `git push`. Target: integrate <=
   0.5x the plain loop. (integrate pushes once for the whole batch; the loop pushes once
   per task, as a person merging branch after branch would.) This is done in 3 rounds of
   M tasks on the same two hubs; before each round the ungated hub's main is set to the
   gated hub's main, so both merge the same branches onto the same main. The figure is the
   median round. Both grow a little from round to round: more task branches on the hub
   make every `git push` and fetch advertise more refs.

4. The content check. The gate runs `git merge-tree --write-tree` for each new merge on
   main (and `git diff-tree` only when a tree differs). A batch of B approved tasks
   claimed by the integrator is merged onto main in the clone, B = 1 and B = 10, and the
   integrator pushes that main, signed, to the gate and to a twin hub: same history,
   signers and config, bound to the same board with the same gate login (its binding file
   copied), whose pre-receive is the same gate with `hook.merge_content` replaced by a
   stub that hands the policy each commit's own tree as the merge. After each push main
   is set back with `update-ref` in that hub (outside the timing), so the same push is
   repeated K times per hub, the two hubs alternating first; a push option of its own
   keeps each certificate unique. The report gives gate / no check per batch size, the
   milliseconds added, and one `git merge-tree --write-tree` timed alone. No target: it
   says what the check costs (part 3's integrate push of M merges pays it M times).

Full run: N=30 pushes per hub, HISTORY=100,000, 10 timed main pushes per history size
(after one untimed warm-up; gate and null hook alternate first), M=50 tasks in 3 rounds,
K=20 pushes per batch size. `--quick`: N=10, HISTORY=10,000, 5 main pushes, M=10 tasks in
2 rounds, K=8; at M=10 the one
gated push of integrate (~150 ms, mostly the hook's Python start-up) weighs more than the
merges, so the quick ratio in part 3 says little. `--json PATH` also writes every figure.
Run from the repository root:

    .venv/bin/python benchmarks/gate_and_integrate.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg.conninfo import make_conninfo

from ainarres import project
from ainarres.board import admin, migrate
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.embedded import EmbeddedServer
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import DbCredential
from ainarres.git import clone as mirrors
from ainarres.git import hub as hubs
from ainarres.git.push import PushResult, clone_hub, push
from ainarres.integrate.run import Options, integrate

DESIGNER = "claude-code+opus"
IMPLEMENTER = "opencode+qwen"
REVIEWER = "grok+grok-build"
INTEGRATOR = "person+integrator"
FAMILIES = (
    (DESIGNER, "designer"),
    (IMPLEMENTER, "implementer"),
    (REVIEWER, "reviewer"),
    (INTEGRATOR, "integrator"),
)
MAIN = "refs/heads/main"
TEMPLATE = "bench_template"
SMALL_HISTORY = 100
PUSH_TARGET = 1.3  # gate push over null-hook push, median
RESIDENT_TARGET = 2.5  # resident-gate push over plain push, median
HISTORY_TARGET = 1.2  # gate push to main at the long history over the short one, median
INTEGRATE_TARGET = 0.5  # integrate over the plain merge-and-push loop
NULL_HOOK = """#!/bin/sh
# benchmark null hook: the gate's interpreter and imports, then accept everything
exec {python} -I -c 'import sys; import ainarres.gate.hook, ainarres.board.gate_facts; \
sys.stdin.read()'
"""
SH_HOOK = """#!/bin/sh
# benchmark shell hook: git verifies the push certificate for any hook; this one accepts
exit 0
"""
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Config:
    pushes: int  # timed task-branch pushes per hub
    history: int  # commits on main of the long-history hub
    main_pushes: int  # timed integration pushes per history size
    tasks: int  # approved tasks for integrate vs the plain loop, per round
    integrate_rounds: int
    content_pushes: int  # timed main pushes per batch size, with and without the content check


FULL = Config(
    pushes=30, history=100_000, main_pushes=10, tasks=50, integrate_rounds=3, content_pushes=20
)
QUICK = Config(
    pushes=10, history=10_000, main_pushes=5, tasks=10, integrate_rounds=2, content_pushes=8
)
CONTENT_BATCHES = (1, 10)  # merges per push in part 4


@dataclass
class Timing:
    samples: int
    median_ms: float
    p90_ms: float
    min_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        ms = sorted(s * 1000 for s in seconds)
        p90 = statistics.quantiles(ms, n=10, method="inclusive")[8] if len(ms) > 1 else ms[0]
        return cls(len(ms), statistics.median(ms), p90, ms[0])


@dataclass
class HistoryRow:
    commits: int
    gate: Timing
    null_hook: Timing
    is_ancestor: Timing
    first_parent_log: Timing
    merge_tree: Timing


@dataclass
class IntegrateRow:
    tasks: int  # per round
    rounds: int
    integrate_s: list[float] = field(default_factory=list)
    plain_loop_s: list[float] = field(default_factory=list)
    shipped: int = 0  # over all rounds
    plain_merges: int = 0
    ratio: float = 0.0  # median integrate over median plain loop


@dataclass
class ContentRow:
    merges: int  # merges per push
    gate: Timing  # the installed gate: content check included
    no_check: Timing  # the same gate with the content check stubbed out
    merge_tree: Timing  # one `git merge-tree --write-tree` alone, on the hub
    ratio: float = 0.0  # gate median over no-check median


@dataclass
class Report:
    mode: str
    config: dict[str, Any]
    machine: dict[str, str]
    task_push: dict[str, Timing] = field(default_factory=dict)
    task_push_ratio_null: float = 0.0
    task_push_ratio_plain: float = 0.0
    resident_ratio_plain: float = 0.0
    history: list[HistoryRow] = field(default_factory=list)
    history_ratio_gate: float = 0.0
    history_ratio_null: float = 0.0
    integrate: IntegrateRow | None = None
    content: list[ContentRow] = field(default_factory=list)
    setup_s: dict[str, float] = field(default_factory=dict)


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.monotonic() - _STARTED:7.1f}s] {message}\n")
    sys.stderr.flush()


def git(cwd: Path, *args: str, input_bytes: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=input_bytes, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd} failed: {done.stderr.decode()}")
    return done.stdout.decode().strip()


@contextmanager
def stopwatch(what: str, into: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[what] = into.get(what, 0.0) + time.perf_counter() - started


# -- the board -------------------------------------------------------------------------


class Cluster:
    """One embedded server with a migrated template database; one board database per use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = EmbeddedServer(root / "cluster")
        self.operator: DbCredential = self.server.ensure_running()
        with open_connection(self.server.conninfo(self.operator, "postgres")) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}".encode())
        with open_connection(self.server.conninfo(self.operator, TEMPLATE)) as conn:
            migrate.migrate(conn)

    def board(self, name: str) -> Board:
        dbname = "bench_" + name.replace("-", "_")
        with open_connection(self.server.conninfo(self.operator, "postgres")) as conn:
            conn.execute(f"CREATE DATABASE {dbname} TEMPLATE {TEMPLATE}".encode())
        url = make_conninfo(**self.server.conninfo(self.operator, dbname))
        return Board(self, dbname, Settings(self.root / name / ".ainarres", url))

    def postgres_version(self) -> str:
        with open_connection(self.server.conninfo(self.operator, "postgres")) as conn:
            row = conn.execute(b"SHOW server_version").fetchone()
        assert row is not None
        return str(row["server_version"])


@dataclass
class Board:
    cluster: Cluster
    dbname: str
    settings: Settings
    agents: dict[str, Agent] = field(default_factory=dict)

    def operator(self) -> Connection:
        return open_connection(self.cluster.server.conninfo(self.cluster.operator, self.dbname))

    def add_family(self, name: str, role: str) -> None:
        tool, _, model = name.partition("+")
        with self.operator() as conn:
            out = admin.add_family(conn, self.settings, name, tool, model)
            if not out.ok:
                raise RuntimeError(f"add_family {name}: {out.message}")
            out = admin.grant(conn, name, role)
            if not out.ok:
                raise RuntimeError(f"grant {role} to {name}: {out.message}")

    def agent(self, family: str) -> Agent:
        """One agent per family, on its own connection made with the family's credential."""
        if family not in self.agents:
            conn = open_connection(family_conninfo(self.settings, family))
            self.agents[family] = Agent.start(conn, "bench")
        return self.agents[family]

    def close(self) -> None:
        for agent in self.agents.values():
            agent.conn.close()


# -- repositories ----------------------------------------------------------------------


def make_source(path: Path, commits: int) -> Path:
    """A repository whose main has `commits` commits, each changing one small file."""
    git(path.parent, "init", "--quiet", "--initial-branch=main", str(path))
    chunks: list[bytes] = []
    for i in range(1, commits + 1):
        message = f"history {i}\n".encode()
        content = f"{i}\n".encode()
        chunks.append(
            b"commit refs/heads/main\ncommitter Bench <bench@example.test> %d +0000\n"
            b"data %d\n%s" % (1_500_000_000 + 60 * i, len(message), message)
        )
        if i == 1:
            readme = b"A benchmark project.\n"
            chunks.append(b"M 100644 inline README\ndata %d\n%s\n" % (len(readme), readme))
        chunks.append(b"M 100644 inline history.txt\ndata %d\n%s\n" % (len(content), content))
    git(path, "fast-import", "--quiet", input_bytes=b"".join(chunks))
    return path


def make_gated_hub(path: Path, source: Path, keys_from: Board) -> Path:
    """A hub made like the real one (same config, same history, the gate's hook installed)
    that trusts the same family keys; not bound to a board."""
    hub = hubs.init_hub(path, source, python=sys.executable)
    for family, _ in FAMILIES:
        hubs.add_allowed_signer(hub, project.family_key(keys_from.settings, family))
    return hub.path


def make_bare_hub(path: Path, source: Path, keys_from: Board, hook: str | None) -> Path:
    """A hub made like the real one with `hook` instead of the gate as pre-receive, or no
    hook at all."""
    hub = make_gated_hub(path, source, keys_from)
    pre_receive = hub / "hooks" / "pre-receive"
    if hook is None:
        pre_receive.unlink()
    else:
        pre_receive.write_text(hook.format(python=sys.executable))
        pre_receive.chmod(0o755)
    return hub


@dataclass
class Project:
    """A board with four families and keys, a gated hub bound to it, and a clone."""

    board: Board
    source: Path
    hub: Path
    clone: Path

    def push(
        self, remote: Path | str, refspec: str, family: str, epoch: int | None = None
    ) -> PushResult:
        key = project.family_key(self.board.settings, family)
        options = [f"ainarres-epoch={epoch}"] if epoch is not None else []
        return push(
            self.clone,
            str(remote),
            [refspec],
            key=key,
            signed=True,
            options=options,
            passphrase=PASSPHRASE if family == INTEGRATOR else None,
        )

    def must_push(
        self, remote: Path | str, refspec: str, family: str, epoch: int | None = None
    ) -> float:
        """Push and return the seconds it took; a refused push stops the benchmark."""
        started = time.perf_counter()
        result = self.push(remote, refspec, family, epoch)
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise RuntimeError(f"push {refspec} to {remote} refused: {result.stderr}")
        return elapsed

    def commit(self, name: str, text: str) -> str:
        (self.clone / name).write_text(text)
        git(self.clone, "add", name)
        git(self.clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"Write {name}")
        return git(self.clone, "rev-parse", "HEAD")

    def approved_task(
        self, name: str, *, claim: bool, mirrors_to: tuple[Path, ...] = (), text: str | None = None
    ) -> tuple[UUID, str, int]:
        """A task implemented (writing `name`, with `text` or its name), pushed, reviewed
        and, with claim, claimed by the integrator: (task id, reviewed head, integrator's
        epoch or 0). The task branch is also pushed to the hubs in `mirrors_to`."""
        task = self.board.agent(DESIGNER).create_task(f"add {name}").task
        assert task is not None
        impl = self.board.agent(IMPLEMENTER)
        claimed = impl.claim_next()
        assert claimed.task is not None and claimed.task.id == task.id, claimed.message
        assert claimed.epoch is not None
        git(self.clone, "fetch", "--quiet", "origin")
        git(self.clone, "checkout", "--quiet", "-B", task.branch, "origin/main")
        head = self.commit(name, f"{name}\n" if text is None else text)
        refspec = f"HEAD:refs/heads/{task.branch}"
        for hub in (self.hub, *mirrors_to):
            self.must_push(hub, refspec, IMPLEMENTER, claimed.epoch)
        assert impl.advance(task.id, claimed.epoch, head).ok
        rev = self.board.agent(REVIEWER)
        review = rev.claim_next()
        assert review.epoch is not None and rev.advance(task.id, review.epoch).ok
        if not claim:
            return task.id, head, 0
        integ = self.board.agent(INTEGRATOR).claim_next()
        assert integ.ok and integ.epoch is not None and integ.task is not None
        assert integ.task.id == task.id
        return task.id, head, integ.epoch

    def merge_onto_main(self, head: str, task: UUID) -> str:
        """An integration commit as `ainarres integrate` writes it, made with git by hand."""
        git(self.clone, "fetch", "--quiet", "origin")
        git(self.clone, "checkout", "--quiet", "--detach", "origin/main")
        message = f"Merge task {task}\n\nAinarres-Task: {task}\n"
        git(self.clone, "merge", "--quiet", "--no-ff", "--no-gpg-sign", "-m", message, head)
        return git(self.clone, "rev-parse", "HEAD")


PASSPHRASE = "the integrator's benchmark passphrase"


def make_project(cluster: Cluster, name: str, source: Path) -> Project:
    board = cluster.board(name)
    for family, role in FAMILIES:
        board.add_family(family, role)
        # As in the product: the integrator's key is passphrase-protected, and its pushes
        # pay for ssh-keygen asking the passphrase through askpass.
        project.ensure_family_key(
            board.settings, family, PASSPHRASE if family == INTEGRATOR else None
        )
    folder = cluster.root / name
    with board.operator() as conn:
        hub = project.init_hub(conn, board.settings, source, folder / "hub.git")
    clone = clone_hub(hub, folder / "clone")
    git(clone, "config", "user.name", "Bench")
    git(clone, "config", "user.email", "bench@example.test")
    return Project(board, source, hub, clone)


# -- 1. task-branch pushes -------------------------------------------------------------


def bench_task_push(cluster: Cluster, source: Path, pushes: int) -> dict[str, Timing]:
    proj = make_project(cluster, "push", source)
    resident: subprocess.Popen[bytes] | None = None
    try:
        folder = cluster.root / "push"
        twin = make_bound_twin(proj, folder / "resident.git")
        resident = start_resident_gate(twin)
        targets = {
            "plain (no hook)": make_bare_hub(folder / "plain.git", source, proj.board, None),
            "sh hook (exit 0)": make_bare_hub(folder / "sh.git", source, proj.board, SH_HOOK),
            "null hook": make_bare_hub(folder / "null.git", source, proj.board, NULL_HOOK),
            "ainarres gate": proj.hub,
            "resident gate": twin,
        }
        task = proj.board.agent(DESIGNER).create_task("pushed many times").task
        assert task is not None
        claimed = proj.board.agent(IMPLEMENTER).claim_next()
        assert claimed.task is not None and claimed.epoch is not None
        git(proj.clone, "checkout", "--quiet", "-B", task.branch, "origin/main")
        refspec = f"HEAD:refs/heads/{task.branch}"
        names = list(targets)
        samples: dict[str, list[float]] = {n: [] for n in names}
        warmup = 2  # creates the branch everywhere, warms caches; not counted
        for i in range(warmup + pushes):
            proj.commit("work.txt", f"round {i}\n")
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                elapsed = proj.must_push(targets[name], refspec, IMPLEMENTER, claimed.epoch)
                if i >= warmup:
                    samples[name].append(elapsed)
            if i >= warmup and (i - warmup + 1) % 10 == 0:
                progress(f"  {i - warmup + 1}/{pushes} rounds")
        return {n: Timing.of(s) for n, s in samples.items()}
    finally:
        if resident is not None:
            resident.terminate()
            resident.wait(timeout=30)
        proj.board.close()


# -- 2. main pushes against history size -----------------------------------------------


def _time_git(repo: Path, args: list[str], runs: int = 20) -> Timing:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)
        seconds.append(time.perf_counter() - started)
    return Timing.of(seconds)


def bench_history(cluster: Cluster, name: str, source: Path, pushes: int) -> HistoryRow:
    proj = make_project(cluster, name, source)
    try:
        null_hub = make_bare_hub(cluster.root / name / "null.git", source, proj.board, NULL_HOOK)
        commits = int(git(proj.hub, "rev-list", "--count", MAIN))
        warmup = 1
        progress(f"  {warmup + pushes} approved tasks claimed by the integrator (setup)")
        tasks = [
            proj.approved_task(f"feature-{k}.txt", claim=True, mirrors_to=(null_hub,))
            for k in range(warmup + pushes)
        ]
        gate: list[float] = []
        null: list[float] = []
        for k, (task_id, head, _) in enumerate(tasks):
            proj.merge_onto_main(head, task_id)
            first_gate = k % 2 == 0
            for to_gate in (first_gate, not first_gate):
                elapsed = proj.must_push(
                    proj.hub if to_gate else null_hub, f"HEAD:{MAIN}", INTEGRATOR
                )
                if k >= warmup:
                    (gate if to_gate else null).append(elapsed)
        log_format = "--format=%H %P%x1f%(trailers:key=Ainarres-Task,valueonly,separator=%x2c)"
        return HistoryRow(
            commits=commits,
            gate=Timing.of(gate),
            null_hook=Timing.of(null),
            is_ancestor=_time_git(proj.hub, ["merge-base", "--is-ancestor", "main~1", "main"]),
            merge_tree=_time_git(proj.hub, ["merge-tree", "--write-tree", "main^1", "main^2"]),
            first_parent_log=_time_git(
                proj.hub, ["log", "--first-parent", log_format, "main~1..main"]
            ),
        )
    finally:
        proj.board.close()


# -- 3. integrate against a plain merge loop -------------------------------------------


def bench_integrate(cluster: Cluster, source: Path, count: int, rounds: int) -> IntegrateRow:
    proj = make_project(cluster, "integrate", source)
    try:
        folder = cluster.root / "integrate"
        plain = make_bare_hub(folder / "plain.git", source, proj.board, None)
        plain_clone = folder / "plain-clone"
        git(folder, "clone", "--quiet", str(plain), str(plain_clone))
        git(plain_clone, "config", "user.name", "Bench")
        git(plain_clone, "config", "user.email", "bench@example.test")
        # integrate's mirror exists after its first run; make it now so the run only fetches
        settings = proj.board.settings
        mirrors.ensure_bare_mirror(
            str(proj.hub), settings.state_dir / "integrator" / f"{INTEGRATOR}.git"
        )
        row = IntegrateRow(count, rounds)
        merged: set[str] = set()
        for r in range(rounds):
            progress(f"  round {r + 1}/{rounds}: {count} approved tasks (setup)")
            # Both loops start from the same main, so the task branches (forked from the
            # gated hub's main) bring nothing else along when the plain loop merges them.
            git(plain, "fetch", "--quiet", str(proj.hub), f"+{MAIN}:{MAIN}")
            git(plain_clone, "fetch", "--quiet", "origin")
            git(plain_clone, "checkout", "--quiet", "main")
            git(plain_clone, "reset", "--quiet", "--hard", "origin/main")
            for k in range(count):
                name = f"feature-{r}-{k:03}.txt"
                proj.approved_task(name, claim=False, mirrors_to=(plain,))
            listed = git(plain, "for-each-ref", "--format=%(refname:strip=2)", "refs/heads/task/")
            branches = sorted(set(listed.splitlines()) - merged)
            merged.update(branches)
            started = time.perf_counter()
            results = integrate(
                settings, Options(family=INTEGRATOR, checks=False, passphrase=PASSPHRASE)
            )
            row.integrate_s.append(time.perf_counter() - started)
            row.shipped += sum(1 for res in results if res.outcome == "shipped")
            progress(f"    ainarres integrate (checks off): {row.integrate_s[-1]:.2f}s")
            started = time.perf_counter()
            git(plain_clone, "fetch", "--quiet", "origin")
            for branch in branches:
                git(plain_clone, "checkout", "--quiet", "main")
                git(plain_clone, "merge", "--quiet", "--no-ff", "--no-edit", f"origin/{branch}")
                git(plain_clone, "push", "--quiet", "origin", "main")
            row.plain_loop_s.append(time.perf_counter() - started)
            progress(f"    plain checkout/merge/push loop: {row.plain_loop_s[-1]:.2f}s")
        row.plain_merges = int(
            git(plain, "rev-list", "--count", "--merges", "--first-parent", MAIN)
        )
        row.ratio = statistics.median(row.integrate_s) / statistics.median(row.plain_loop_s)
        return row
    finally:
        proj.board.close()


# -- 4. the content check: what git merge-tree adds to a push of main -----------------

# The installed gate, except that `merge_content` (the hook's only caller of `git
# merge-tree` and `git diff-tree`) is replaced by a stub that hands the policy each
# commit's own tree as the merge of its parents. Every other fact and rule is the same.
GATE_WITHOUT_CONTENT_CHECK = """# benchmark: the ainarres gate with its content check stubbed out
import os
import sys
from pathlib import Path

from ainarres.gate import hook, policy


def no_content_check(hub_dir, commits, env):
    return {c.oid: policy.MergeContent(c.tree, c.tree) for c in commits}


hook.merge_content = no_content_check
hub_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
sys.exit(hook.run_pre_receive(sys.stdin, os.environ, hub_dir))
"""


def make_bound_twin(proj: Project, path: Path) -> Path:
    """A hub with the same history, signers and config as `proj.hub`, its gate installed,
    bound to the same board with the same gate login (its binding file copied, not re-made:
    binding again would give the gate role a new password)."""
    hub = make_gated_hub(path, proj.source, proj.board)
    shutil.copy2(proj.hub / "ainarres" / "board.json", hub / "ainarres" / "board.json")
    return hub


def start_resident_gate(hub: Path) -> subprocess.Popen[bytes]:
    """`ainarres hub gate` beside `hub`, once its socket is there; the caller stops it."""
    gate = subprocess.Popen([sys.executable, "-m", "ainarres", "hub", "gate", str(hub)],
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (hub / "ainarres" / "gate.sock").exists():
        if gate.poll() is not None or time.monotonic() > deadline:
            gate.kill()
            raise RuntimeError("the resident gate did not start")
        time.sleep(0.05)
    return gate


def make_unchecked_twin(proj: Project, path: Path) -> Path:
    """A bound twin of `proj.hub` whose gate skips the content check."""
    hub = make_bound_twin(proj, path)
    script = hub / "hooks" / "gate-without-content-check.py"
    script.write_text(GATE_WITHOUT_CONTENT_CHECK)
    pre_receive = hub / "hooks" / "pre-receive"
    pre_receive.write_text(f'#!/bin/sh\nexec {sys.executable} -I {script} "$@"\n')
    pre_receive.chmod(0o755)
    return hub


def bench_content(cluster: Cluster, source: Path, pushes: int) -> list[ContentRow]:
    proj = make_project(cluster, "content", source)
    try:
        twin = make_unchecked_twin(proj, cluster.root / "content" / "unchecked.git")
        key = project.family_key(proj.board.settings, INTEGRATOR)
        rows = []
        for size in CONTENT_BATCHES:
            progress(f"  {size} merge(s) per push: {size} approved tasks (setup)")
            tasks = [
                proj.approved_task(f"content-{size}-{n}.txt", claim=True, mirrors_to=(twin,))
                for n in range(size)
            ]
            old = git(proj.hub, "rev-parse", MAIN)
            git(proj.clone, "fetch", "--quiet", "origin")
            git(proj.clone, "checkout", "--quiet", "--detach", "origin/main")
            for task_id, head, _ in tasks:
                message = f"Merge task {task_id}\n\nAinarres-Task: {task_id}\n"
                git(proj.clone, "merge", "--quiet", "--no-ff", "--no-gpg-sign", "-m", message, head)
            tip = git(proj.clone, "rev-parse", "HEAD")
            warmup = 1
            progress(f"  {warmup + pushes} pushes of main {old[:12]}..{tip[:12]} to each hub")
            gate: list[float] = []
            unchecked: list[float] = []
            for k in range(warmup + pushes):
                first_gate = k % 2 == 0
                for to_gate in (first_gate, not first_gate):
                    hub = proj.hub if to_gate else twin
                    started = time.perf_counter()
                    result = push(
                        proj.clone,
                        str(hub),
                        [f"{tip}:{MAIN}"],
                        key=key,
                        signed=True,
                        # a push option of its own keeps each certificate unique
                        options=[f"bench-round={size}-{k}"],
                        passphrase=PASSPHRASE,
                    )
                    elapsed = time.perf_counter() - started
                    if not result.ok:
                        raise RuntimeError(f"push of main to {hub} refused: {result.stderr}")
                    if k >= warmup:
                        (gate if to_gate else unchecked).append(elapsed)
                    # Back to the old main, outside the timing, so the same push repeats.
                    git(hub, "update-ref", MAIN, old, tip)
            row = ContentRow(
                merges=size,
                gate=Timing.of(gate),
                no_check=Timing.of(unchecked),
                merge_tree=_time_git(
                    proj.hub, ["merge-tree", "--write-tree", f"{tip}^1", f"{tip}^2"]
                ),
            )
            row.ratio = row.gate.median_ms / row.no_check.median_ms
            rows.append(row)
        return rows
    finally:
        proj.board.close()


# -- the run ---------------------------------------------------------------------------


def _isolate(home: Path) -> None:
    """No PG*, AINARRES_* or personal git settings from the machine running the benchmark."""
    for key in list(os.environ):
        if key.startswith(("PG", "AINARRES_", "GIT_")):
            del os.environ[key]
    home.mkdir(mode=0o700)
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"


def run(cfg: Config, mode: str) -> Report:
    with tempfile.TemporaryDirectory(prefix="ainarres-bench-") as tmp:
        root = Path(tmp)
        _isolate(root / "home")
        setup: dict[str, float] = {}
        progress(f"starting an embedded PostgreSQL under {root / 'cluster'}")
        with stopwatch("server and template", setup):
            cluster = Cluster(root)
        try:
            report = Report(mode, asdict(cfg), _machine(cluster))
            progress(f"fast-import: sources with {SMALL_HISTORY:,} and {cfg.history:,} commits")
            with stopwatch("fast-import sources", setup):
                small = make_source(root / "source-small", SMALL_HISTORY)
                large = make_source(root / "source-large", cfg.history)

            progress(
                f"1. task-branch pushes: {cfg.pushes} per hub (plain, sh, null hook, gate, "
                "resident gate)"
            )
            with stopwatch("1. task-branch pushes", setup):
                report.task_push = bench_task_push(cluster, small, cfg.pushes)
            gate = report.task_push["ainarres gate"].median_ms
            report.task_push_ratio_null = gate / report.task_push["null hook"].median_ms
            report.task_push_ratio_plain = gate / report.task_push["plain (no hook)"].median_ms
            report.resident_ratio_plain = (
                report.task_push["resident gate"].median_ms
                / report.task_push["plain (no hook)"].median_ms
            )

            for name, source in (("history-small", small), ("history-large", large)):
                progress(f"2. main pushes on {name}: making the project (hub from {source.name})")
                with stopwatch(f"2. {name}", setup):
                    report.history.append(bench_history(cluster, name, source, cfg.main_pushes))
            short, long = report.history
            report.history_ratio_gate = long.gate.median_ms / short.gate.median_ms
            report.history_ratio_null = long.null_hook.median_ms / short.null_hook.median_ms

            progress(f"3. integrate {cfg.tasks} approved tasks vs a plain merge loop")
            with stopwatch("3. integrate", setup):
                report.integrate = bench_integrate(cluster, small, cfg.tasks, cfg.integrate_rounds)

            progress(f"4. content check: pushes of {CONTENT_BATCHES} merges, with and without")
            with stopwatch("4. content check", setup):
                report.content = bench_content(cluster, small, cfg.content_pushes)
            report.setup_s = setup
            return report
        finally:
            progress("stopping the server")
            cluster.server.stop()
            if not cluster.server.socket_dir.is_relative_to(tmp):
                shutil.rmtree(cluster.server.socket_dir, ignore_errors=True)


def _machine(cluster: Cluster) -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "machine": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "git": git(Path.cwd(), "--version").removeprefix("git version "),
        "postgresql": cluster.postgres_version(),
    }


def render(report: Report) -> str:
    def mark(ok: bool) -> str:
        return "meets target" if ok else "MISSES TARGET"

    m = report.machine
    lines = [
        f"ainarres gate and integrate benchmark ({report.mode})",
        f"{m['cpus']} CPUs ({m['machine']}); Python {m['python']}; git {m['git']}; "
        f"PostgreSQL {m['postgresql']} (embedded)",
        "",
        f"1. Task-branch push: lease holder, signed, -o ainarres-epoch=N; "
        f"{report.config['pushes']} pushes per hub,",
        "   one new commit each, rounds rotate the order of the hubs",
        "",
        f"   {'hub':<17}  {'median ms':>9}  {'p90 ms':>7}  {'min ms':>7}  {'/ null hook':>11}",
    ]
    null = report.task_push["null hook"].median_ms
    for name, t in report.task_push.items():
        lines.append(
            f"   {name:<17}  {t.median_ms:>9.1f}  {t.p90_ms:>7.1f}  {t.min_ms:>7.1f}"
            f"  {t.median_ms / null:>10.2f}x"
        )
    gate = report.task_push["ainarres gate"].median_ms
    plain = report.task_push["plain (no hook)"].median_ms
    lines += [
        f"   gate / null hook = {report.task_push_ratio_null:.2f}x; target <= {PUSH_TARGET}x "
        f"({mark(report.task_push_ratio_null <= PUSH_TARGET)})",
        f"   gate / plain = {report.task_push_ratio_plain:.2f}x; the gate's own work (gate - "
        f"null) {gate - null:.1f} ms; a Python hook at all (null - plain) {null - plain:.1f} ms",
        f"   resident gate / plain = {report.resident_ratio_plain:.2f}x; target <= "
        f"{RESIDENT_TARGET}x ({mark(report.resident_ratio_plain <= RESIDENT_TARGET)})",
        "",
        f"2. Integration push to main: one merge of a claimed, approved task, signed by the "
        f"integrator; {report.config['main_pushes']} pushes per hub",
        "",
        f"   {'commits on main':>15}  {'gate median':>11}  {'gate p90':>8}  {'null median':>11}"
        f"  {'gate-null':>9}  {'is-ancestor':>11}  {'log old..new':>12}  {'merge-tree':>10}",
    ]
    for row in report.history:
        lines.append(
            f"   {row.commits:>15,}  {row.gate.median_ms:>8.1f} ms  {row.gate.p90_ms:>5.1f} ms"
            f"  {row.null_hook.median_ms:>8.1f} ms"
            f"  {row.gate.median_ms - row.null_hook.median_ms:>6.1f} ms"
            f"  {row.is_ancestor.median_ms:>8.1f} ms  {row.first_parent_log.median_ms:>9.1f} ms"
            f"  {row.merge_tree.median_ms:>7.1f} ms"
        )
    short, long = report.history
    lines += [
        f"   gate push {long.commits:,} / {short.commits:,} commits = "
        f"{report.history_ratio_gate:.2f}x; target <= {HISTORY_TARGET}x "
        f"({mark(report.history_ratio_gate <= HISTORY_TARGET)}); null-hook push "
        f"{report.history_ratio_null:.2f}x",
        "   (is-ancestor, log and merge-tree are the gate's git calls, run alone on the hub)",
        "",
    ]
    integ = report.integrate
    assert integ is not None
    integ_s = statistics.median(integ.integrate_s)
    plain_s = statistics.median(integ.plain_loop_s)
    pairs = zip(integ.integrate_s, integ.plain_loop_s, strict=True)
    each = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in pairs)
    lines += [
        f"3. Integrating {integ.tasks} approved tasks, {integ.rounds} rounds "
        f"(median round; integrate/plain per round: {each} s)",
        "",
        f"   ainarres integrate (checks off, one signed push through the gate)"
        f"  {integ_s:>7.2f} s  {integ_s / integ.tasks * 1000:>6.1f} ms/task",
        f"   plain loop to an ungated hub (checkout, merge --no-ff, push)     "
        f"  {plain_s:>7.2f} s  {plain_s / integ.tasks * 1000:>6.1f} ms/task",
        f"   integrate / plain loop = {integ.ratio:.2f}x; target <= {INTEGRATE_TARGET}x "
        f"({mark(integ.ratio <= INTEGRATE_TARGET)}); {integ.shipped} tasks shipped, "
        f"{integ.plain_merges} merges on the plain hub",
        "",
        "4. Content check: the gate runs `git merge-tree --write-tree` for each new merge on "
        "main; each push",
        f"   goes to the gate and to a twin hub on the same board whose gate skips that check;"
        f" {report.config['content_pushes']} pushes each",
        "",
        f"   {'merges/push':>11}  {'gate median':>11}  {'gate p90':>8}  {'no check':>9}"
        f"  {'gate/no check':>13}  {'added':>8}  {'merge-tree alone':>16}",
    ]
    for c in report.content:
        lines.append(
            f"   {c.merges:>11}  {c.gate.median_ms:>8.1f} ms  {c.gate.p90_ms:>5.1f} ms"
            f"  {c.no_check.median_ms:>6.1f} ms  {c.ratio:>12.2f}x"
            f"  {c.gate.median_ms - c.no_check.median_ms:>5.1f} ms"
            f"  {c.merge_tree.median_ms:>13.1f} ms"
        )
    lines += [
        "   (no target: the figure is what the check costs; part 3's integrate push includes it)",
        "",
        "Wall time per phase, setup included: "
        + "; ".join(f"{k} {v:.1f}s" for k, v in report.setup_s.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run: 10 pushes, 10,000 commits, 10 tasks")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    json_path: Path | None = args.json.absolute() if args.json is not None else None
    mode = "quick" if args.quick else "full"
    report = run(QUICK if args.quick else FULL, mode)
    sys.stdout.write(render(report) + "\n")
    if json_path is not None:
        json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
        progress(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
