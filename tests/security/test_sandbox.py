"""From inside the sandbox, a shell tries what an agent's tool might; every attempt fails.

The tool is set up exactly as the runner sets it up (`jobs.prepared` and
`runner.tool_mounts`: same mounts, same environment, same seccomp filter), in a real task
worktree of a real project with a real board and hub. Secrets that would show through a
blocklist sandbox (which hid only /tmp, the state directory and the hub) are planted
outside /tmp, where the old sandbox showed them.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from boardenv import must
from sandboxrun import ATTEMPT, in_sandbox
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, Project

from ainarres import project
from ainarres.agents import jobs, sandbox
from ainarres.credentials import family_file, operator_file
from ainarres.errors import BadInput
from ainarres.git.hub import check_hub

REASON = sandbox.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no sandbox here: {REASON}")


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A folder outside /tmp (the old sandbox showed everything but /tmp and the state dir)."""
    where = Path("/var/tmp") / f"ainarres-redteam-{uuid.uuid4().hex[:12]}"
    where.mkdir(mode=0o700, parents=True)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_sandbox_hides_every_credential(proj: Project) -> None:
    settings = proj.board.settings
    secrets = {
        "integrator key": project.key_path(settings, INTEGRATOR),
        "own family key": project.key_path(settings, IMPLEMENTER),
        "operator password": operator_file(proj.board.cluster.server.state_dir),
        "another family's credential": family_file(settings.state_dir, DESIGNER),
        "own family's credential": family_file(settings.state_dir, IMPLEMENTER),
        "gate login": proj.hub / "ainarres" / "board.json",
    }
    for path in secrets.values():
        assert path.exists(), path  # they are there, outside
    script = (
        ATTEMPT
        + "".join(
            f"attempt({name!r}, lambda: open({str(path)!r}).read())\n"
            for name, path in secrets.items()
        )
        + "print(json.dumps(out))"
    )
    result = in_sandbox(proj, script)
    assert result == {name: "FileNotFoundError" for name in secrets}


def test_sandbox_hides_the_rest_of_the_machine(proj: Project, outside: Path) -> None:
    """Finding 2: the person's ssh key, another project's operator credential, /run and
    /var; none of it exists inside. Everything planted here was readable before."""
    ssh_key = outside / "home" / ".ssh" / "id_ed25519"
    other = outside / "other-project" / ".ainarres" / "credentials" / "operator.json"
    for path, body in ((ssh_key, "-----BEGIN OPENSSH PRIVATE KEY-----\n"), (other, "{}")):
        path.parent.mkdir(parents=True)
        path.write_text(body)
    script = (
        ATTEMPT
        + f"""
attempt("the person's ssh key", lambda: open({str(ssh_key)!r}).read())
attempt("another project's operator credential", lambda: open({str(other)!r}).read())
attempt("list /run", lambda: os.listdir("/run"))
attempt("list /var", lambda: os.listdir("/var"))
attempt("list /home", lambda: os.listdir("/home"))
attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
attempt("write /usr", lambda: open("/usr/ainarres-pwned", "w"))
attempt("write the root", lambda: open("/ainarres-pwned", "w"))
print(json.dumps(out))
"""
    )
    result = in_sandbox(proj, script)
    assert result == {
        "the person's ssh key": "FileNotFoundError",
        "another project's operator credential": "FileNotFoundError",
        "list /run": "FileNotFoundError",
        "list /var": "FileNotFoundError",
        "list /home": "FileNotFoundError",
        "read /etc/shadow": "FileNotFoundError",
        "write /usr": "OSError",
        "write the root": "OSError",
    }


def test_sandbox_refuses_unix_sockets_even_abstract_ones(proj: Project) -> None:
    """Finding 2: a unix socket works on a read-only mount, and an abstract one needs no
    mount at all (the network namespace is shared for the model API). An ssh-agent or a
    PostgreSQL socket must be out of reach: socket(AF_UNIX) fails inside."""
    name = f"\0ainarres-redteam-{uuid.uuid4().hex}"
    name2 = f"\0ainarres-redteam-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen(1)
    packets = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # a listener of that kind
    packets.bind(name2)
    packets.listen(1)
    try:
        server.settimeout(0.5)
        packets.settimeout(0.5)
        script = (
            ATTEMPT
            + f"""
import errno
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect({name!r})
attempt("connect to an abstract unix socket", connect)
attempt("make a unix datagram socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
attempt("a datagram socketpair (sendto any abstract name)",
        lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
attempt("a socketpair still works", lambda: socket.socketpair())
def pairs_reach_only_their_peer():
    for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        for listener in ({name!r}, {name2!r}):
            a, b = socket.socketpair(socket.AF_UNIX, kind)
            try:
                a.connect(listener)  # already connected: EISCONN, or refused by type
            except OSError:
                pass
            else:
                raise AssertionError(f"a connected pair of kind {{kind}} reached {{listener!r}}")
            if kind == socket.SOCK_SEQPACKET:  # its sendto() address is ignored
                a.sendto(b"to the listener?", listener)
                assert b.recv(100) == b"to the listener?"
attempt("a seqpacket socketpair works, and no pair reaches a listener",
        pairs_reach_only_their_peer)
attempt("a TCP socket still works", lambda: socket.socket(socket.AF_INET).close())
print(json.dumps(out))
"""
        )
        result = in_sandbox(proj, script)
        for listening in (server, packets):  # nothing from inside reached either
            with pytest.raises(TimeoutError):
                listening.accept()
    finally:
        server.close()
        packets.close()
    assert result == {
        "connect to an abstract unix socket": "PermissionError",
        "make a unix datagram socket": "PermissionError",
        "a datagram socketpair (sendto any abstract name)": "PermissionError",
        "a socketpair still works": "SUCCEEDED",
        "a seqpacket socketpair works, and no pair reaches a listener": "SUCCEEDED",
        "a TCP socket still works": "SUCCEEDED",
    }


def test_sandbox_cannot_reach_the_board(proj: Project) -> None:
    info = proj.board.cluster.conninfo(proj.board.dbname)  # the real superuser password
    fam = json.loads(family_file(proj.board.settings.state_dir, DESIGNER).read_text())
    tries = {
        "as the superuser": info,
        "as another family": {**info, **fam},
        "with no password": {**info, "password": ""},
    }
    script = (
        ATTEMPT
        + "import psycopg\nfrom psycopg.conninfo import make_conninfo\n"
        + "".join(
            f"attempt({name!r}, lambda: psycopg.connect(make_conninfo(**{conn!r}), "
            "connect_timeout=3).close())\n"
            for name, conn in tries.items()
        )
        + "print(json.dumps(out))"
    )
    result = in_sandbox(proj, script)
    assert result == {name: "OperationalError" for name in tries}


def test_sandbox_cannot_touch_the_hub(proj: Project) -> None:
    main = proj.hub_ref(MAIN)
    hook = proj.hub / "hooks" / "pre-receive"
    before = hook.read_bytes()
    script = (
        ATTEMPT
        + f"""
hub = {str(proj.hub)!r}
def write_main():
    os.makedirs(hub + "/refs/heads", exist_ok=True)
    open(hub + "/refs/heads/main", "w").write("0" * 40 + "\\n")
    if not os.path.exists(hub + "/objects"):
        raise PermissionError("wrote into an empty stand-in, not the hub")
attempt("write refs/heads/main", write_main)
def edit_hook():
    with open(hub + "/hooks/pre-receive", "a") as fh:
        fh.write("exit 0\\n")
attempt("edit a hook", edit_hook)
def push_main():
    subprocess.run(["git", "push", hub, "HEAD:refs/heads/main"], check=True, capture_output=True)
attempt("push main by path", push_main)
print(json.dumps(out))
"""
    )
    result = in_sandbox(proj, script)
    assert result["write refs/heads/main"] != "SUCCEEDED"
    assert result["push main by path"] == "CalledProcessError"
    assert proj.hub_ref(MAIN) == main
    assert hook.read_bytes() == before and check_hub(proj.hub) == []


def test_sandbox_sees_only_its_own_worktree(proj: Project) -> None:
    other_task = must(proj.agent(DESIGNER).create_task("other").task)
    other = proj.agent(IMPLEMENTER, "other-agent")
    claim = other.claim_next()
    assert claim.task is not None and claim.task.id == other_task.id
    assert claim.epoch is not None
    with jobs.prepared(
        proj.board.settings, other, jobs.Claimed(claim.task, claim.epoch, "implementer")
    ) as theirs:
        (theirs.job.workdir / "secret-work.txt").write_text("not for you\n")
        secret = theirs.job.workdir / "secret-work.txt"
    script = (
        ATTEMPT
        + f"""
attempt("read another task's worktree", lambda: open({str(secret)!r}).read())
attempt("write own worktree", lambda: open("mine.txt", "w").write("ok"))
def plant_hook():
    git_dir = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                             text=True, check=True).stdout.strip()
    open(os.path.join(git_dir, "hooks", "pre-commit"), "w").write("#!/bin/sh\\ntouch /pwned\\n")
attempt("plant a hook the runner would run", plant_hook)
def replace_pointer():
    os.remove(".git")
attempt("remove the worktree's .git pointer", replace_pointer)
def overwrite_pointer():
    open(".git", "w").write("gitdir: /elsewhere\\n")
attempt("overwrite the worktree's .git pointer", overwrite_pointer)
print(json.dumps(out))
"""
    )
    result = in_sandbox(proj, script)
    assert result == {
        "read another task's worktree": "FileNotFoundError",
        "write own worktree": "SUCCEEDED",
        "plant a hook the runner would run": "OSError",
        "remove the worktree's .git pointer": "OSError",
        "overwrite the worktree's .git pointer": "OSError",
    }


def test_sandbox_refuses_paths_that_escape(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"sandbox folder .*/nowhere does not exist"):
        sandbox.wrap(
            ["true"], sandbox.Mounts(writable=(tmp_path / "nowhere",), hidden=()), tmp_path, {}
        )
    root = tmp_path / "worktrees"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path.parent)
    from ainarres.git.worktree import worktree_path_is_inside

    assert not worktree_path_is_inside(root, root / "escape")
    assert not worktree_path_is_inside(root, root / ".." / "x")
    assert worktree_path_is_inside(root, root / "task_ok")


def test_sandbox_etc_is_the_minimal_list(proj: Project) -> None:
    script = ATTEMPT + "print(json.dumps({'etc': sorted(os.listdir('/etc'))}))"
    shown = set(in_sandbox(proj, script)["etc"])
    assert shown <= set(sandbox.ETC_ENTRIES)
    assert "passwd" in shown and "shadow" not in shown
