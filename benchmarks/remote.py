"""A push through the ssh hub and a claim over TLS, on a real link, beside plain git and
pgbench on the same server and the same link.

It builds two machines on this one, as tests/remote does (tests/remote/machines.py,
pgserver.py): a server network namespace running Debian's PostgreSQL (TLS 1.3 only from the
network, scram, verify-full against a CA made here) and an OpenSSH server whose root account
holds the hub, and a client namespace cabled to it through a veth pair and a bridge. The
person's commands (init, family add, grant, family export) run in the server's namespace
with the operator's URL; the client joins with `ainarres join` of the implementer family's
bundle, as an agent's machine does. Durability is PostgreSQL's default (fsync on,
synchronous_commit on), as in claim_throughput.py; the tests run this server with fsync off.

1. A gated push beside a plain push. The hub is made by `ainarres hub init` on the server
   (gate installed, bound to the TLS board), the implementer's key is let in with
   `ainarres hub allow`, and the root account's authorized_keys is what `ainarres hub
   authorized-keys` prints: each family key forced to run `ainarres hub serve`. The client
   claims a real task over TLS (claim_next as an implementer agent) and pushes its branch
   with `ainarres.git.push.push`, signed with the family's key, `-o ainarres-epoch=E`, over
   ssh with the GIT_SSH_COMMAND `use_ssh_identity` builds. The plain push goes to a bare
   repository on the same server without hooks (same receive settings, no signing), through
   the same sshd, with a key of its own whose authorized_keys line forces
   `git-shell -c "$SSH_ORIGINAL_COMMAND"`: the same commit, unsigned. Each round makes one
   commit and pushes it to both, the order alternating. Target: gated <= 3x plain (median).

   Where the gated push's time goes, measured in the same rounds: an ssh session that only
   runs `true` (a third key forced to `true`), the same session to the family's key with no
   git command (the forced command starts, parses and refuses), and, on the server without
   ssh, a push of the next commit over the file transport to the hub (signed, the gate) and
   to the plain repository (unsigned, no hook). The difference of those two is the push
   certificate and the gate; the forced command's own start is the ssh-with-serve session
   less the ssh-with-true one. Also timed alone: the forced command run locally,
   `python -I -c pass`, the interpreter with the gate's imports (gate_and_integrate.py's
   null hook) and `ssh-keygen -Y sign` (the client's signature).

   sshd runs every forced command through the account's shell (`bash -c`), and Debian's
   bash then reads ~/.bashrc. The hub's account here is root, whose ~/.bashrc on a
   developer's machine may run anything (pyenv init costs 130 ms or more), so sshd's
   sessions see that file empty (a bind mount in sshd's own mount namespace); the report
   says what it would have added.

2. Claims over TLS beside pgbench. `pgbench -i -s 10` in a database of that server, then
   `pgbench -c N -j N -T S` from the client namespace over TLS (sslmode=verify-full with
   the CA) for N = 1 and 4; ainarres: N worker processes in the client namespace, each an
   implementer agent logged in with the family's own login over TLS verify-full, looping
   claim_next -> advance (claim_throughput.py's `_worker`) over tasks the designer made
   beforehand. Cycles/s beside TPS, and the ratio. Target: >= 25% at 4 clients (the
   local-socket figure of claim_throughput.py is about 29%).

Needs root, iproute2, bubblewrap, Debian's postgresql and openssh-server (and git-shell,
which comes with git); it says what is missing otherwise. Everything it makes (namespaces,
sshd, the PostgreSQL cluster, its /run folder, a temporary folder) is removed at the end,
also on Ctrl-C, SIGTERM or an error. Nothing asserts a timing. `--quick` runs a smaller
version; `--json PATH` also writes the figures. Progress goes to stderr, the report to
stdout.

Run from the repository root:  .venv/bin/python benchmarks/remote.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import os
import platform
import pwd
import queue
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from types import FrameType
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from ainarres import project
from ainarres.board.db import Connection, family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings, resolve
from ainarres.git._env import clean_env, use_ssh_identity
from ainarres.git.push import push
from ainarres.store import Store

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "remote"))

import machines  # noqa: E402
import pgserver  # noqa: E402
from claim_throughput import _worker, tps_of  # noqa: E402
from gate_and_integrate import Timing  # noqa: E402

DESIGNER = "bench-designer"
IMPLEMENTER = "bench-implementer"
PGBENCH_DB = "pgbench"
CLIENT_COUNTS = (1, 4)
PUSH_TARGET = 3.0  # gated push over plain push, median
CLAIM_TARGET = 0.25  # ainarres cycles/s over pgbench TPS, at 4 clients
LOCAL_SOCKET_RATIO = 0.29  # claim_throughput.py's figure at 4 workers over the unix socket
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.test",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.test",
}
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Config:
    rounds: int  # timed push rounds
    warmup: int  # untimed rounds first (the first one creates the branch)
    tasks: int  # tasks per client count in part 2
    pgbench_scale: int
    pgbench_seconds: int


FULL = Config(rounds=30, warmup=2, tasks=10_000, pgbench_scale=10, pgbench_seconds=10)
QUICK = Config(rounds=8, warmup=1, tasks=2_000, pgbench_scale=10, pgbench_seconds=3)

# What part 1 times, in the order the report prints it.
GATED = "gated push over ssh"
PLAIN = "plain push over ssh"
SSH_TRUE = "ssh session, forced `true`"
SSH_SERVE = "ssh session, forced `hub serve` refusing"
LOCAL_GATED = "gated push, file transport on the server"
LOCAL_PLAIN = "plain push, file transport on the server"
FORCED_LOCAL = "the forced command alone, refusing (no ssh)"
PYTHON_PASS = "python -I -c pass"
IMPORT_GATE = "python -I, the gate's imports (a null hook)"
SIGN = "ssh-keygen -Y sign of a push certificate"
PUSH_KINDS = (GATED, PLAIN, SSH_TRUE, SSH_SERVE, LOCAL_GATED, LOCAL_PLAIN, FORCED_LOCAL,
              PYTHON_PASS, IMPORT_GATE, SIGN)  # fmt: skip
# What the gate's hook imports on a signed push before it does anything (as the null hook
# of gate_and_integrate.py).
GATE_IMPORTS = "import sys; import ainarres.gate.hook, ainarres.board.gate_facts"


@dataclass
class ClaimRow:
    clients: int
    tasks: int
    seconds: float
    cycles_per_s: float
    pgbench_tps: float
    ratio: float
    client_cpu_ms_per_cycle: float


@dataclass
class Report:
    mode: str
    config: dict[str, Any]
    machine: dict[str, str]
    push: dict[str, Timing] = field(default_factory=dict)
    push_ratio: float = 0.0
    push_ratio_p90: float = 0.0
    forced_command: str = ""
    hidden_rc: str = ""  # the hub account's ~/.bashrc, hidden from sshd's sessions
    rc_ms: float = 0.0  # what that file costs each ssh command here (not in the figures)
    claims: list[ClaimRow] = field(default_factory=list)
    setup_s: dict[str, float] = field(default_factory=dict)


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.monotonic() - _STARTED:7.1f}s] {message}\n")
    sys.stderr.flush()


def unavailable_reason() -> str | None:
    """Why this benchmark cannot run here, or None."""
    reason = machines.unavailable_reason() or pgserver.unavailable_reason()
    if reason is not None:
        return reason
    if not Path("/usr/sbin/sshd").exists():
        return "there is no /usr/sbin/sshd (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen", "git", "git-shell", "ss"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (it comes with git, openssh-client or iproute2)"
    if not Path(pgserver._bin("pgbench")).exists():
        return "pgbench is not installed (apt-get install postgresql-contrib)"
    return None


# -- network namespaces, for this process and its workers --------------------------------

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def enter(netns: str) -> None:
    """Move the calling thread into the network namespace `netns` (what `ip netns exec`
    does, without its new mount namespace); its new sockets are that machine's."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """This thread on machine `netns` for the block, then back where it was (sockets made
    in the block keep their machine)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        enter(netns)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


# -- the site: server and client -----------------------------------------------------------


@dataclass
class Site:
    root: Path
    net: machines.Network
    pg: pgserver.ServerPostgres
    sshd: machines.Sshd
    hub: Path
    plain: Path
    plain_key: Path
    probe_key: Path
    forced_command: str
    operator_state: Path

    @property
    def server(self) -> machines.Machine:
        return self.net.server

    @property
    def client(self) -> machines.Machine:
        return self.net.machines["client"]

    @property
    def client_state(self) -> Path:
        return self.client.home / "state"

    @property
    def operator_url(self) -> str:
        return self.pg.url(self.server.address)

    def operator(self) -> Connection:
        """The operator's connection (the admin role), made from the calling namespace."""
        info = {k: str(v) for k, v in conninfo_to_dict(self.operator_url).items()}
        return open_connection(info)

    def designer_conninfo(self) -> dict[str, str]:
        return family_conninfo(Settings(self.operator_state, self.operator_url), DESIGNER)

    def implementer_conninfo(self) -> dict[str, str]:
        """The client's login, as `join` left it: the family's role, TLS verify-full."""
        return family_conninfo(resolve(self.client_state), IMPLEMENTER)


def _cli(net: machines.Network, machine: str, state: Path, *args: str,
         env: dict[str, str] | None = None, view: bool = True) -> str:  # fmt: skip
    full = {**os.environ, "AINARRES_HOME": str(state), **(env or {})}
    done = net.run(machine, machines.ainarres(*args), env=full, view=view)
    if done.returncode != 0:
        raise SystemExit(f"`ainarres {' '.join(args)}` on {machine} exited {done.returncode}:\n"
                         f"{done.stderr}{done.stdout}")  # fmt: skip
    return done.stdout


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd} failed: {done.stderr}")
    return done.stdout.strip()


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)  # fmt: skip
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def build(root: Path, stack: ExitStack) -> Site:
    """The two machines, the TLS board, the ssh hub and the plain repository; everything is
    undone by `stack`."""
    net = machines.Network(root / "machines")
    stack.callback(net.close)
    server = net.add("server")
    client = net.add("client")
    progress(f"machines {server.netns} ({server.address}) and {client.netns} ({client.address})")
    pg = pgserver.ServerPostgres(server.home / "pg", server.address, 5432, netns=server.netns,
                                 names=("board.test",), conf=("fsync = on",))  # fmt: skip
    stack.callback(pg.stop)
    pg.start()
    progress(f"PostgreSQL {pg.psql('SHOW server_version')} on {server.address}:5432 (TLS only)")
    stack.callback(shutil.rmtree, Path("/run") / f"ainarres-sshd-{net.tag}", True)
    sshd_dir_was_there = Path("/run/sshd").exists()
    stack.callback(_tidy_run_sshd, sshd_dir_was_there)
    sshd = machines.start_sshd(net, hide=(account_rc(),))
    stack.callback(sshd.stop)
    progress(f"sshd on {server.address}:22")

    # The person: a board on that server, the two families.
    operator_state = server.home / "operator"
    url = pg.url(server.address)
    person = {"AINARRES_DATABASE_URL": url}

    def as_person(*args: str) -> str:
        return _cli(net, "server", operator_state, *args, env=person, view=False)

    as_person("init")
    for family, model, role in ((DESIGNER, "designer", "designer"),
                                (IMPLEMENTER, "implementer", "implementer")):  # fmt: skip
        as_person("family", "add", family, "--tool", "bench", "--model", model, "--maker", "bench")
        as_person("grant", family, role)

    # The server's account: the hub, the implementer's key, authorized_keys.
    server_state = server.home / "state"
    source = server.home / "source"
    source.mkdir()
    (source / "README.md").write_text("# a benchmark project\n")
    hub = server.home / "hub.git"
    _cli(net, "server", server_state, "hub", "init", "--from", str(source), "--path", str(hub),
         "--checks", "true", env=person, view=False)  # fmt: skip
    public = Store(operator_state).family_key(IMPLEMENTER).with_suffix(".pub").read_text()
    _cli(net, "server", server_state, "hub", "allow", IMPLEMENTER, "--key", public.strip(),
         view=False)  # fmt: skip
    block = _cli(net, "server", server_state, "hub", "authorized-keys", view=False)
    listed = json.loads(_cli(net, "server", server_state, "hub", "authorized-keys", "--json",
                             view=False))  # fmt: skip
    forced_command = str(listed["command"])

    # The plain repository: the hub's history and receive settings, no hooks, no signing.
    plain = server.home / "plain.git"
    _git(root, "clone", "--quiet", "--bare", str(hub), str(plain))
    for hook in (plain / "hooks").iterdir():
        hook.unlink()
    for name in ("receive.denyDeletes", "receive.denyNonFastForwards", "receive.fsckObjects",
                 "core.logAllRefUpdates"):  # fmt: skip
        _git(plain, "config", name, _git(hub, "config", "--local", "--get", name))

    keys = client.home / "keys"
    keys.mkdir(mode=0o700)
    plain_key, probe_key = keys / "plain", keys / "probe"
    plain_line = _keygen(plain_key, "plain")
    probe_line = _keygen(probe_key, "probe")
    sshd.authorized_keys.write_text(
        block
        + "# the benchmark's baseline: plain git through git-shell, and an ssh session alone\n"
        + f'restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" {plain_line} plain\n'
        + f'restrict,command="true" {probe_line} probe\n'
    )

    # The client joins with the implementer's bundle (board address and CA, login, key,
    # hub URL and host key), carried over by hand.
    host_keys = operator_state / "hub_host_key"
    host_keys.write_text(f"{server.address} {sshd.host_key}\n")
    bundle = operator_state / "client.bundle"
    board = (f"postgresql://{server.address}:5432/{pgserver.DATABASE}"
             f"?sslmode=verify-full&sslrootcert={pg.certs.ca}")  # fmt: skip
    as_person("family", "export", IMPLEMENTER, "--to", str(bundle), "--board-url", board,
              "--hub", f"ssh://root@{server.address}{hub}",
              "--hub-host-key-file", str(host_keys))  # fmt: skip
    carried = client.home / "family.bundle"
    carried.write_bytes(bundle.read_bytes())
    carried.chmod(0o600)
    _cli(net, "client", client.home / "state", "join", str(carried))
    carried.unlink()
    progress("board, families, hub, plain repository and the client's join are ready")
    return Site(root, net, pg, sshd, hub, plain, plain_key, probe_key, forced_command,
                operator_state)  # fmt: skip


def account_rc() -> Path:
    """The hub account's ~/.bashrc: bash reads it for every command sshd runs (Debian builds
    bash so), and a developer's rc (pyenv init, say) would weigh on every ssh session."""
    return Path(pwd.getpwuid(0).pw_dir) / ".bashrc"


def rc_cost() -> float:
    """Milliseconds `bash -c true` spends reading the account's rc, as under sshd (median of
    5 runs with SSH_CLIENT set, less 5 without)."""
    home = str(account_rc().parent)
    runs: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(5):
        for ssh in (True, False):
            env = {"HOME": home, "PATH": "/usr/bin:/bin"}
            if ssh:
                env["SSH_CLIENT"] = "10.0.0.2 50000 22"
            started = time.perf_counter()
            subprocess.run(["bash", "-c", "true"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, check=False)  # fmt: skip
            runs[ssh].append(time.perf_counter() - started)
    return (statistics.median(runs[True]) - statistics.median(runs[False])) * 1000


def _tidy_run_sshd(was_there: bool) -> None:
    """Remove /run/sshd (sshd's privilege separation folder) if this run made it and no
    other machines' sshd (tests/remote) is running now."""
    if was_there or any(Path("/run").glob("ainarres-sshd-*")):
        return
    with suppress(OSError):
        Path("/run/sshd").rmdir()


def create_tasks(site: Site, count: int) -> None:
    """`count` tasks in stage implement, made by the designer through create_task (from the
    server's namespace: setup, not measured)."""
    with inside(site.server.netns), open_connection(site.designer_conninfo()) as conn:
        agent = Agent.start(conn, "seeder")
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE r->>'outcome' = 'ok') AS made FROM ("
            " SELECT ainarres.create_task(%s, 'bench task ' || i, '', 0, '{}'::uuid[],"
            "                             NULL, 'dev') AS r"
            " FROM generate_series(1, %s) AS i) AS x",
            (agent.id, count),
        ).fetchone()
    if row is None or row["made"] != count:
        raise SystemExit(f"create_task made {None if row is None else row['made']} of {count}")


def vacuum(site: Site) -> None:
    with inside(site.server.netns), site.operator() as conn:
        for table in ("tasks", "events", "agents"):
            conn.execute(f"VACUUM ANALYZE ainarres.{table}".encode())


# -- 1. pushes ---------------------------------------------------------------------------


class Pusher:
    """The client's side of part 1: a clone of the hub, the claimed task, and each timed
    thing."""

    def __init__(self, site: Site, agent: Agent, task_id: Any, branch: str, epoch: int) -> None:
        self.site, self.agent, self.task_id, self.branch, self.epoch = (
            site, agent, task_id, branch, epoch)  # fmt: skip
        self.settings = resolve(site.client_state)
        self.known_hosts = Store(site.client_state).known_hosts
        self.key = project.family_key(self.settings, IMPLEMENTER)
        self.hub_url = str(project.require_hub(self.settings, IMPLEMENTER))
        self.plain_url = f"ssh://root@{site.server.address}{site.plain}"
        self.clone = site.client.home / "clone"
        self.commits = 0
        self.samples: dict[str, list[float]] = {kind: [] for kind in PUSH_KINDS}
        shell = pwd.getpwuid(0).pw_shell or "/bin/sh"
        # The forced command as sshd starts it: the account's shell -c, sshd's environment.
        self.forced = [shell, "-c", site.forced_command]
        self.forced_env = {"HOME": pwd.getpwuid(0).pw_dir, "USER": "root", "LOGNAME": "root",
                           "SHELL": shell, "PATH": "/usr/local/bin:/usr/bin:/bin"}  # fmt: skip

    def use(self, key: Path | None) -> None:
        """Reach ssh with the family's key (None) or another one."""
        if key is None:
            project.require_hub(self.settings, IMPLEMENTER)
        else:
            use_ssh_identity(key, self.known_hosts)

    def ssh_argv(self, key: Path | None) -> list[str]:
        self.use(key)
        return [*shlex.split(clean_env()["GIT_SSH_COMMAND"]), "-T",
                f"root@{self.site.server.address}"]  # fmt: skip

    def make_clone(self) -> None:
        self.use(None)
        _git(self.site.root, "clone", "--quiet", self.hub_url, str(self.clone), env=clean_env())
        _git(self.clone, "checkout", "--quiet", "-b", self.branch)

    def commit(self) -> str:
        self.commits += 1
        name = f"change-{self.commits:04}.txt"
        (self.clone / name).write_text(f"change {self.commits}\n")
        env = {**os.environ, **GIT_IDENTITY}
        _git(self.clone, "add", name, env=env)
        _git(self.clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"add {name}", env=env)
        return _git(self.clone, "rev-parse", "HEAD")

    def push(self, kind: str, head: str) -> float:
        gated = kind in (GATED, LOCAL_GATED)
        if kind in (GATED, PLAIN):
            remote = self.hub_url if gated else self.plain_url
        else:
            remote = str(self.site.hub if gated else self.site.plain)
        self.use(None if gated else self.site.plain_key)
        refspec = f"{head}:refs/heads/{self.branch}"
        started = time.perf_counter()
        if gated:
            result = push(self.clone, remote, [refspec], key=self.key, signed=True,
                          options=[f"ainarres-epoch={self.epoch}"])  # fmt: skip
        else:
            result = push(self.clone, remote, [refspec], key=None, signed=False)
        elapsed = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"{kind} refused: {result.why}\n{result.stderr}")
        return elapsed

    def run(self, kind: str, argv: list[str], expect: int, said: str = "",
            env: dict[str, str] | None = None,
            input_bytes: bytes | None = None) -> float:  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, input=input_bytes,
                              stdin=None if input_bytes is not None else subprocess.DEVNULL,
                              check=False)  # fmt: skip
        elapsed = time.perf_counter() - started
        if done.returncode != expect or said.encode() not in done.stderr:
            raise SystemExit(f"{kind}: exit {done.returncode} (expected {expect}):\n"
                             f"{done.stderr.decode(errors='replace')}")  # fmt: skip
        return elapsed

    def round(self, number: int, timed: bool) -> None:
        beat = self.agent.heartbeat(self.task_id, self.epoch)
        if not beat.ok:
            raise SystemExit(f"heartbeat: {beat.outcome}: {beat.message}")
        flip = number % 2 == 1
        got: dict[str, float] = {}
        head = self.commit()
        for kind in (PLAIN, GATED) if flip else (GATED, PLAIN):
            got[kind] = self.push(kind, head)
        probes = {
            SSH_TRUE: (self.ssh_argv(self.site.probe_key), 0, ""),
            SSH_SERVE: (self.ssh_argv(None), 1, "ainarres hub serve: refused"),
        }
        for kind in sorted(probes, reverse=flip):
            argv, code, said = probes[kind]
            got[kind] = self.run(kind, argv, code, said)
        head = self.commit()
        with inside(self.site.server.netns):
            for kind in (LOCAL_PLAIN, LOCAL_GATED) if flip else (LOCAL_GATED, LOCAL_PLAIN):
                got[kind] = self.push(kind, head)
            got[FORCED_LOCAL] = self.run(FORCED_LOCAL, self.forced, 1, "ainarres hub serve: "
                                         "refused", env=self.forced_env)  # fmt: skip
        got[PYTHON_PASS] = self.run(PYTHON_PASS, [sys.executable, "-I", "-c", "pass"], 0)
        got[IMPORT_GATE] = self.run(IMPORT_GATE, [sys.executable, "-I", "-c", GATE_IMPORTS], 0)
        certificate = (b"certificate version 0.1\npusher bench 1700000000 +0000\npushee x\n"
                       b"nonce 1700000000-0123456789abcdef\npush-option ainarres-epoch=1\n\n"
                       + f"{'0' * 40} {head} refs/heads/{self.branch}\n".encode())  # fmt: skip
        got[SIGN] = self.run(SIGN, ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f",
                                    str(self.key.private_key)], 0,
                             input_bytes=certificate)  # fmt: skip
        if timed:
            for kind, seconds in got.items():
                self.samples[kind].append(seconds)


def bench_pushes(site: Site, cfg: Config) -> dict[str, Timing]:
    create_tasks(site, 1)
    with inside(site.client.netns), open_connection(site.implementer_conninfo()) as conn:
        agent = Agent.start(conn, "pusher")
        out = agent.claim_next()
        if not out.ok or out.task is None or out.epoch is None:
            raise SystemExit(f"claim_next: {out.outcome}: {out.message}")
        progress(f"  claimed task {out.task.short_id} (epoch {out.epoch}) over TLS; "
                 f"branch {out.task.branch}")  # fmt: skip
        pusher = Pusher(site, agent, out.task.id, out.task.branch, out.epoch)
        pusher.make_clone()
        for number in range(cfg.warmup + cfg.rounds):
            timed = number >= cfg.warmup
            pusher.round(number, timed)
            if timed and (number - cfg.warmup + 1) % 5 == 0:
                g, p = pusher.samples[GATED], pusher.samples[PLAIN]
                progress(f"  {len(g)} rounds: gated {statistics.median(g) * 1000:.0f} ms, plain "
                         f"{statistics.median(p) * 1000:.0f} ms (medians so far)")  # fmt: skip
        tip = _git(site.hub, "rev-parse", f"refs/heads/{out.task.branch}")
        done = agent.advance(out.task.id, out.epoch, tip)  # out of part 2's way
        if not done.ok:
            raise SystemExit(f"advance: {done.outcome}: {done.message}")
    return {kind: Timing.of(pusher.samples[kind]) for kind in PUSH_KINDS}


# -- 2. claims beside pgbench --------------------------------------------------------------


def _client_worker(netns: str, conninfo: dict[str, str], name: str, barrier: Barrier,
                   results: Any) -> None:  # fmt: skip
    """claim_throughput's worker, on the client machine."""
    try:
        enter(netns)
    except BaseException:
        barrier.abort()
        results.put((name, 0, 0.0, 0.0, 0.0, traceback.format_exc()))
        return
    _worker(conninfo, name, barrier, results)


def run_claims(site: Site, clients: int, tasks: int) -> tuple[float, float, float]:
    """(seconds, cycles per second, client CPU ms per cycle) for `clients` worker processes
    on the client machine over `tasks` fresh tasks."""
    create_tasks(site, tasks)
    vacuum(site)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    info = site.implementer_conninfo()
    procs = [ctx.Process(target=_client_worker,
                         args=(site.client.netns, info, f"worker{i}", barrier, results))
             for i in range(clients)]  # fmt: skip
    for p in procs:
        p.start()
    got: list[tuple[str, int, float, float, float, str | None]] = []
    try:
        while len(got) < clients:
            try:
                got.append(results.get(timeout=1))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    codes = [p.exitcode for p in procs]
                    raise SystemExit(f"workers ended without reporting: {codes}") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [r[5] for r in got if r[5]]
    if errors:
        raise SystemExit("a worker failed:\n" + errors[0])
    cycles = sum(r[1] for r in got)
    if cycles != tasks:
        raise SystemExit(f"workers advanced {cycles} tasks, expected {tasks}")
    seconds = max(r[3] for r in got) - min(r[2] for r in got)
    return seconds, cycles / seconds, sum(r[4] for r in got) * 1000 / cycles


def pgbench(site: Site, *args: str) -> str:
    """pgbench on the client machine, as the admin role over TLS verify-full."""
    info = site.implementer_conninfo()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGHOST=site.server.address, PGPORT=str(site.pg.port), PGDATABASE=PGBENCH_DB,
               PGUSER=pgserver.ADMIN, PGPASSWORD=site.pg.admin_password,
               PGSSLMODE="verify-full", PGSSLROOTCERT=info["sslrootcert"])  # fmt: skip
    done = subprocess.run(["ip", "netns", "exec", site.client.netns, pgserver._bin("pgbench"),
                           *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pgbench {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout + done.stderr


def pgbench_tps(site: Site, clients: int, seconds: int) -> float:
    return tps_of(pgbench(site, "-c", str(clients), "-j", str(clients), "-T", str(seconds)))


def bench_claims(site: Site, cfg: Config) -> list[ClaimRow]:
    site.pg.psql(f"CREATE DATABASE {PGBENCH_DB} OWNER {pgserver.ADMIN}")
    progress(f"  pgbench -i -s {cfg.pgbench_scale} over TLS from the client")
    pgbench(site, "-i", "-q", "-s", str(cfg.pgbench_scale))
    rows = []
    for clients in CLIENT_COUNTS:
        progress(f"  ainarres: {clients} worker process(es) on the client over {cfg.tasks} tasks")
        seconds, rate, cpu_ms = run_claims(site, clients, cfg.tasks)
        progress(f"    {rate:,.0f} cycles/s ({seconds:.2f}s; client CPU {cpu_ms:.2f} ms/cycle)")
        progress(f"  pgbench -c {clients} -j {clients} -T {cfg.pgbench_seconds} from the client")
        tps = pgbench_tps(site, clients, cfg.pgbench_seconds)
        progress(f"    {tps:,.0f} tps")
        rows.append(ClaimRow(clients, cfg.tasks, seconds, rate, tps, rate / tps, cpu_ms))
    return rows


# -- the run -------------------------------------------------------------------------------


def machine_facts(site: Site) -> dict[str, str]:
    with inside(site.client.netns), open_connection(site.implementer_conninfo()) as conn:
        row = conn.execute(
            "SELECT version, cipher, current_setting('server_version') AS pg,"
            " current_setting('fsync') AS fsync,"
            " current_setting('synchronous_commit') AS sync"
            " FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return {
        "cpus": str(os.cpu_count()),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "git": _git(REPO, "--version").removeprefix("git version "),
        "openssh": ssh.stderr.strip().split(",")[0],
        "postgresql": str(row["pg"]),
        "tls": f"{row['version']} {row['cipher']}",
        "fsync": str(row["fsync"]),
        "synchronous_commit": str(row["sync"]),
    }


def _isolate(home: Path) -> None:
    """No PG*, AINARRES_* or personal git settings from the machine running the benchmark."""
    for key in list(os.environ):
        if key.startswith(("PG", "AINARRES_", "GIT_")):
            del os.environ[key]
    home.mkdir(mode=0o700)
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run(cfg: Config, mode: str) -> Report:
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="ainarres-remote-"))
        stack.callback(shutil.rmtree, root, True)
        stack.callback(progress, "sshd, PostgreSQL and the machines are gone; removing the folder")
        _isolate(root / "home")
        setup: dict[str, float] = {}
        started = time.perf_counter()
        site = build(root, stack)
        setup["machines, board, hub, join"] = time.perf_counter() - started
        report = Report(mode, asdict(cfg), machine_facts(site), forced_command=site.forced_command)
        if account_rc().exists():
            report.hidden_rc, report.rc_ms = str(account_rc()), rc_cost()
        progress(f"1. pushes: {cfg.warmup} + {cfg.rounds} rounds (gated and plain, over ssh and "
                 "on the server)")  # fmt: skip
        started = time.perf_counter()
        report.push = bench_pushes(site, cfg)
        setup["1. pushes"] = time.perf_counter() - started
        report.push_ratio = report.push[GATED].median_ms / report.push[PLAIN].median_ms
        report.push_ratio_p90 = report.push[GATED].p90_ms / report.push[PLAIN].p90_ms
        progress("2. claims over TLS beside pgbench")
        started = time.perf_counter()
        report.claims = bench_claims(site, cfg)
        setup["2. claims and pgbench"] = time.perf_counter() - started
        report.setup_s = setup
        progress("stopping sshd and PostgreSQL, removing the machines")
        return report
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def render(report: Report) -> str:
    def mark(ok: bool) -> str:
        return "meets target" if ok else "MISSES TARGET"

    m, t = report.machine, report.push
    lines = [
        f"ainarres over a network link: ssh hub and TLS board ({report.mode})",
        f"{m['cpus']} CPUs ({m['machine']}); Python {m['python']}; git {m['git']}; "
        f"{m['openssh']}; PostgreSQL {m['postgresql']} (Debian), {m['tls']}, "
        f"fsync {m['fsync']}, synchronous_commit {m['synchronous_commit']}",
        "server and client are network namespaces joined by a veth pair and a bridge",
        "",
        f"1. Push of one new commit to the task branch: {report.config['rounds']} rounds "
        "(alternating order)",
        "",
        f"   {'':<46}  {'median ms':>9}  {'p90 ms':>7}  {'min ms':>7}",
    ]
    for kind in PUSH_KINDS:
        lines.append(f"   {kind:<46}  {t[kind].median_ms:>9.1f}  {t[kind].p90_ms:>7.1f}"
                     f"  {t[kind].min_ms:>7.1f}")  # fmt: skip
        if kind == PLAIN:
            lines.append("")
    lines += [
        "",
        f"   gated / plain = {report.push_ratio:.2f}x (p90 {report.push_ratio_p90:.2f}x); "
        f"target <= {PUSH_TARGET:.0f}x ({mark(report.push_ratio <= PUSH_TARGET)})",
        "",
    ]
    med = {kind: t[kind].median_ms for kind in PUSH_KINDS}
    serve = med[SSH_SERVE] - med[SSH_TRUE]
    gate = med[LOCAL_GATED] - med[LOCAL_PLAIN]
    parts = med[PLAIN] + serve + gate
    steps = [
        ("  plain push over ssh (session, git-shell, receive-pack)", med[PLAIN]),
        ("    of which an ssh session alone (forced `true`)", med[SSH_TRUE]),
        ("+ the forced command `hub serve` (ssh+serve - ssh+true)", serve),
        ("    the forced command run alone on the server", med[FORCED_LOCAL]),
        ("    of which the interpreter's start (python -I -c pass)", med[PYTHON_PASS]),
        ("+ signing and the gate (file transport on the server, gated - plain)", gate),
        ("    of which ssh-keygen -Y sign on the client", med[SIGN]),
        ("    of which the hook's start: python -I and the gate's imports", med[IMPORT_GATE]),
        ("    the rest: verifying the certificate, the gate's board login over", None),
        ("    TLS, its queries, the policy, the nonce ledger", gate - med[SIGN] - med[IMPORT_GATE]),
    ]
    rc_note = [
        f"   sshd's sessions do not see {report.hidden_rc}: bash reads it for every command",
        f"   sshd runs, which here would add {report.rc_ms:.0f} ms to each ssh session",
    ]
    lines += [
        "   Where the gated push's time goes (differences of medians):",
        *(f"   {k:<70}  {v:>7.1f} ms" if v is not None else f"   {k}" for k, v in steps),
        f"   = {parts:.1f} ms estimated, {med[GATED]:.1f} ms measured "
        f"({med[GATED] - parts:+.1f} ms unexplained)",
        f"   forced command: {report.forced_command}",
        *(rc_note if report.hidden_rc else []),
        "",
        "2. claim_next + advance cycles over TLS (verify-full) from the client, beside pgbench",
        f"   TPC-B (scale {report.config['pgbench_scale']}, -T {report.config['pgbench_seconds']},"
        " tps without initial connection time) from the same client over TLS",
        "",
        f"   {'clients':>7}  {'tasks':>6}  {'ainarres cycles/s':>17}  {'pgbench TPS':>11}"
        f"  {'ratio':>6}  {'client CPU ms/cycle':>19}",
    ]
    for row in report.claims:
        lines.append(f"   {row.clients:>7}  {row.tasks:>6}  {row.cycles_per_s:>17,.0f}"
                     f"  {row.pgbench_tps:>11,.0f}  {row.ratio:>6.1%}"
                     f"  {row.client_cpu_ms_per_cycle:>19.2f}")  # fmt: skip
    at4 = next((r for r in report.claims if r.clients == 4), None)
    if at4 is not None:
        lines.append(f"   target: at 4 clients ainarres >= {CLAIM_TARGET:.0%} of pgbench; "
                     f"measured {at4.ratio:.1%} ({mark(at4.ratio >= CLAIM_TARGET)}); over the "
                     f"local socket claim_throughput.py gives about "
                     f"{LOCAL_SOCKET_RATIO:.0%}")  # fmt: skip
    lines += [
        "",
        "Wall time per phase, setup included: "
        + "; ".join(f"{k} {v:.1f}s" for k, v in report.setup_s.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run: 8 push rounds, 2,000 tasks, pgbench -T 3")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    json_path: Path | None = args.json.absolute() if args.json is not None else None
    reason = unavailable_reason()
    if reason is not None:
        sys.stderr.write(f"benchmarks/remote.py cannot run here: {reason}. It needs root, "
                         "iproute2, bubblewrap, Debian's postgresql and openssh-server."
                         "\n")  # fmt: skip
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    mode = "quick" if args.quick else "full"
    report = run(QUICK if args.quick else FULL, mode)
    sys.stdout.write(render(report) + "\n")
    if json_path is not None:
        json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
        progress(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
