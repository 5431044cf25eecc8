"""Many machines for real, on this one: a server (Debian's PostgreSQL over TLS, an OpenSSH
server holding the hub), agent machines each joined with only its own family's bundle, and
the person's machine with the operator's login and the integrator's key. A three-task brief
goes from design to shipped across them; then one agent's cable is pulled mid-task, another
machine takes the task over, and the old agent's late push and done are refused.

Each machine is a network namespace (`machines.py`) that sees only its own folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from machines import Machine, Network, ainarres, start_sshd
from machines import unavailable_reason as no_machines
from pgserver import ServerPostgres
from pgserver import unavailable_reason as no_postgres

from ainarres.store import Store

REASON = no_machines() or no_postgres()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=f"many machines: {REASON}"),
    pytest.mark.slow,
]

DESIGNER_REVIEWER = "grok+grok-build"  # xAI: designs, and reviews the others' work
IMPLEMENTER = "opencode+qwen"  # Alibaba
OTHER_IMPLEMENTER = "codex+gpt"  # OpenAI
INTEGRATOR = "person+integrator"
FAMILIES = {
    DESIGNER_REVIEWER: ("grok", "grok-build", ("designer", "reviewer")),
    IMPLEMENTER: ("opencode", "qwen", ("implementer",)),
    OTHER_IMPLEMENTER: ("codex", "gpt", ("implementer",)),
    INTEGRATOR: ("person", "integrator", ("integrator",)),
}
GIT_ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x.test", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x.test"}  # fmt: skip


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AINARRES_", "PG"))}


class Site:
    """The machines and how to run ainarres on each."""

    def __init__(self, net: Network, pg: ServerPostgres, hub: Path) -> None:
        self.net, self.pg, self.hub = net, pg, hub

    def state(self, name: str) -> Path:
        return self.net.machines[name].home / "state"

    def on(self, name: str, *args: str, view: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        full = {**_base_env(), "AINARRES_HOME": str(self.state(name)), **(env or {})}
        return self.net.run(name, ainarres(*args), env=full, view=view)

    def ok(self, name: str, *args: str, **kw: Any) -> str:
        done = self.on(name, *args, **kw)
        assert done.returncode == 0, (name, args, done.stdout, done.stderr)
        return done.stdout

    def person(self, *args: str) -> str:
        """The person's machine: the operator's URL, no view (it runs the checks' sandbox)."""
        return self.ok("person", *args, view=False, env=self.person_env)

    @property
    def person_env(self) -> dict[str, str]:
        secret = self.net.machines["person"].home / "passphrase"
        if not secret.exists():
            secret.write_text("the integrator's own passphrase\n")
            secret.chmod(0o600)
        return {"AINARRES_DATABASE_URL": self.operator_url,
                "AINARRES_PASSPHRASE_FILE": str(secret)}  # fmt: skip

    @property
    def operator_url(self) -> str:
        return self.pg.url(self.net.server.address, ca=self.net.machines["person"].home / "ca.pem")


def _commit(worktree: Path, name: str) -> None:
    (worktree / name).write_text(f"{name}\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["add", name], ["commit", "-q", "--no-gpg-sign", "-m", f"add {name}"]):
        subprocess.run(["git", *args], cwd=worktree, check=True, env=env, capture_output=True)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    net = Network(tmp_path / "machines")
    sshd = None
    pg = None
    try:
        server = net.add("server")
        for name in ("person", "qwen", "grok", "codex"):
            net.add(name)
        pg = ServerPostgres(server.home / "pg", server.address, 5432, netns=server.netns,
                            names=("board.test",)).start()  # fmt: skip
        (net.machines["person"].home / "ca.pem").write_bytes(pg.certs.ca.read_bytes())
        site = Site(net, pg, server.home / "hub.git")
        sshd = start_sshd(net)
        _set_up(site, server, sshd.authorized_keys)
        (net.machines["person"].home / "hub_host_key").write_text(
            f"{server.address} {sshd.host_key}\n")  # fmt: skip
        host_keys = net.machines["person"].home / "hub_host_key"
        site.person("hub", "use", f"ssh://root@{server.address}{site.hub}",
                    "--host-key-file", str(host_keys))  # fmt: skip
        _join_agents(site)
        yield site
    finally:
        if sshd is not None:
            sshd.stop()
        if pg is not None:
            pg.stop()
        net.close()


def _set_up(site: Site, server: Machine, authorized_keys: Path) -> None:
    """The person sets up the board and the families; the server's account makes the hub."""
    site.person("init")
    for family, (tool, model, roles) in FAMILIES.items():
        protect = ["--passphrase"] if family == INTEGRATOR else []
        site.person("family", "add", family, "--tool", tool, "--model", model, *protect)
        for role in roles:
            site.person("grant", family, role)
    source = server.home / "source"
    source.mkdir()
    (source / "README.md").write_text("# the project\n")
    on_server = {"AINARRES_DATABASE_URL": site.pg.url(server.address)}
    site.ok("server", "hub", "init", "--from", str(source), "--path", str(site.hub),
            "--checks", "true", view=False, env=on_server)  # fmt: skip
    for family in FAMILIES:  # public keys, carried from the person's machine
        public = Store(site.state("person")).family_key(family).with_suffix(".pub")
        key = public.read_text().strip()
        site.ok("server", "hub", "allow", family, "--key", key, view=False)
    block = site.ok("server", "hub", "authorized-keys", view=False)
    authorized_keys.write_text(block)


def _join_agents(site: Site) -> None:
    person = site.net.machines["person"]
    board = (f"postgresql://{site.net.server.address}:5432/ainarres"
             f"?sslmode=verify-full&sslrootcert={person.home / 'ca.pem'}")  # fmt: skip
    for machine, family in (("qwen", IMPLEMENTER), ("grok", DESIGNER_REVIEWER),
                            ("codex", OTHER_IMPLEMENTER)):  # fmt: skip
        bundle = person.home / f"{machine}.bundle"
        site.person("family", "export", family, "--to", str(bundle), "--board-url", board,
                    "--hub-host-key-file", str(person.home / "hub_host_key"))  # fmt: skip
        carried = site.net.machines[machine].home / "family.bundle"  # a person copies it over
        carried.write_bytes(bundle.read_bytes())
        carried.chmod(0o600)
        site.ok(machine, "join", str(carried))
        carried.unlink()
    # The integrator's key cannot leave the person's machine in a bundle.
    refused = site.on("person", "family", "export", INTEGRATOR, "--to",
                      str(person.home / "i.bundle"), "--board-url", board, view=False,
                      env=site.person_env)  # fmt: skip
    assert refused.returncode == 2 and "integrator" in refused.stderr


def _next(site: Site, machine: str, family: str) -> dict[str, Any]:
    return dict(json.loads(site.ok(machine, "next", "--family", family, "--json")))


def _implement(site: Site, machine: str, family: str, name: str) -> str:
    got = _next(site, machine, family)
    short = str(got["task"]["short_id"])
    _commit(Path(str(got["worktree"])), name)
    site.ok(machine, "push", short, "--family", family)
    site.ok(machine, "done", short, "--family", family)
    return short


def test_machines_a_brief_ships_across_machines_and_a_cut_cable_loses_the_task(site: Site) -> None:
    # Design, on the grok machine: three tasks from one brief.
    site.person("brief", "Three files")
    design = _next(site, "grok", DESIGNER_REVIEWER)
    brief = str(design["task"]["short_id"])
    for n in (1, 2, 3):
        site.ok("grok", "task", "create", "--title", f"add file {n}", "--parent", brief,
                "--family", DESIGNER_REVIEWER)  # fmt: skip
    site.ok("grok", "done", brief, "--family", DESIGNER_REVIEWER)

    # Two tasks implemented on the qwen machine, over ssh to the hub and TLS to the board.
    shipped = [_implement(site, "qwen", IMPLEMENTER, f"file{n}.txt") for n in (1, 2)]

    # The third: qwen takes it and commits, then its cable is pulled.
    site.person("workflow", "set", "--stage", "implement", "--lease", "10")
    got = _next(site, "qwen", IMPLEMENTER)
    third, stale_epoch = str(got["task"]["short_id"]), int(got["epoch"])
    _commit(Path(str(got["worktree"])), "file3.txt")
    site.net.cut("qwen")
    beat = site.on("qwen", "heartbeat", third, "--family", IMPLEMENTER)
    assert beat.returncode == 4, beat.stderr  # the board is out of reach
    time.sleep(11)  # its lease runs out
    taken = _next(site, "codex", OTHER_IMPLEMENTER)
    assert taken["task"]["short_id"] == third and int(taken["epoch"]) == stale_epoch + 1
    site.net.mend("qwen")  # the cable is back: qwen's late work is refused, not merged
    late_push = site.on("qwen", "push", third, "--family", IMPLEMENTER)
    assert late_push.returncode == 1, late_push.stderr
    assert "refused" in late_push.stderr and OTHER_IMPLEMENTER in late_push.stderr
    _commit(Path(str(taken["worktree"])), "file3.txt")
    site.ok("codex", "push", third, "--family", OTHER_IMPLEMENTER)
    # With the branch on the hub (codex's), qwen's done gets as far as the board: refused.
    late_done = site.on("qwen", "done", third, "--family", IMPLEMENTER)
    assert late_done.returncode == 1 and "lease_lost" in late_done.stderr, late_done.stderr
    site.ok("codex", "done", third, "--family", OTHER_IMPLEMENTER)
    shipped.append(third)

    # Reviews on the grok machine (another maker than both implementers).
    for _ in shipped:
        review = _next(site, "grok", DESIGNER_REVIEWER)
        site.ok("grok", "review", "approve", str(review["task"]["short_id"]),
                "--family", DESIGNER_REVIEWER)  # fmt: skip

    # The person integrates over ssh with the only key that can move main.
    site.person("integrate", "--family", INTEGRATOR)
    report = json.loads(site.person("report", "--json"))
    rows = {s["short_id"]: s for s in report["shipped"]}
    assert sorted(rows) == sorted(shipped)
    assert rows[third]["implemented"] == OTHER_IMPLEMENTER
    assert {rows[s]["implemented"] for s in shipped[:2]} == {IMPLEMENTER}
    assert all(r["reviewed"] == DESIGNER_REVIEWER for r in rows.values())
    assert all(r["integrated"] == INTEGRATOR for r in rows.values())
    log = subprocess.run(["git", "log", "--first-parent", "--format=%s", "main"], cwd=site.hub,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert log.count("Merge") == 3, log


def test_machines_an_agent_machine_holds_its_own_family_and_nothing_else(site: Site) -> None:
    server, person = site.net.server, site.net.machines["person"]
    for machine, family, other in (("qwen", IMPLEMENTER, DESIGNER_REVIEWER),
                                   ("grok", DESIGNER_REVIEWER, IMPLEMENTER)):  # fmt: skip
        # Another family's bundle, the person's files, the hub's files: not on this machine.
        for path in (person.home / "grok.bundle", person.home / "state", site.hub,
                     site.net.machines["codex"].home):  # fmt: skip
            seen = site.net.run(machine, ["ls", str(path)])
            assert seen.returncode != 0 and "No such file" in seen.stderr, (machine, path)
        # The hub's account runs git for this family's key and nothing else.
        key = Store(site.state(machine)).family_key(family)
        shell = site.net.run(machine, [
            "ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={site.state(machine) / 'known_hosts'}",
            f"root@{server.address}", "cat", str(site.hub / "config")])  # fmt: skip
        assert shell.returncode != 0 and "[core]" not in shell.stdout, shell
        # The board: as itself only. Its password does not open the operator's or another
        # family's login, and the operator's role is not its own.
        code = (
            "import json,sys,psycopg\n"
            "from ainarres.config import resolve\n"
            "from ainarres.board.db import family_conninfo\n"
            "from psycopg.conninfo import make_conninfo\n"
            f"info = family_conninfo(resolve(), {family!r})\n"
            "out = {}\n"
            "for user in ('ainarres_admin', 'postgres', sys.argv[1]):\n"
            "    try:\n"
            "        login = make_conninfo(**{**info, 'user': user}, connect_timeout=10)\n"
            "        psycopg.connect(login).close()\n"
            "        out[user] = 'in'\n"
            "    except psycopg.OperationalError as e:\n"
            "        out[user] = 'authentication failed' in str(e) and 'refused' or str(e)\n"
            "print(json.dumps(out))\n"
        )
        other_role = _role_of(site, other)
        home = {**_base_env(), "AINARRES_HOME": str(site.state(machine))}
        tried = site.net.run(machine, [*ainarres()[:1], "-c", code, other_role], env=home)
        assert tried.returncode == 0, tried.stderr
        assert set(json.loads(tried.stdout).values()) == {"refused"}, tried.stdout


def _role_of(site: Site, family: str) -> str:
    listed = json.loads(site.person("family", "list", "--json"))
    return str(next(f["db_role"] for f in listed if f["name"] == family))
