"""An agent's whole round (`next`, `push`, `done`) against a hub served over ssh by a real
sshd, as the `ainarres` command: its git connects with the family's own key and accepts
only the host key recorded by `hub use --host-key-file`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from boardenv import rows
from scenario import DESIGNER, IMPLEMENTER, Project, git
from sshhub import SshServer, make_key, public_key, running_sshd

from ainarres import project
from ainarres.git.keys import fingerprint
from ainarres.store import Store

pytestmark = pytest.mark.slow

GIT_ENV = {
    "GIT_AUTHOR_NAME": "P",
    "GIT_AUTHOR_EMAIL": "p@x.test",
    "GIT_COMMITTER_NAME": "P",
    "GIT_COMMITTER_EMAIL": "p@x.test",
}


@pytest.fixture
def server(proj: Project, tmp_path: Path) -> Iterator[SshServer]:
    with running_sshd(tmp_path) as sshd:
        made = proj.board.run("hub", "authorized-keys")
        assert made.returncode == 0, made.stderr
        sshd.authorize(made.stdout)
        yield sshd


def _use(proj: Project, location: str, host_keys: str, tmp_path: Path) -> None:
    """`hub use LOCATION --host-key-file FILE`, as on an agent's machine."""
    keys = tmp_path / "host_keys"
    keys.write_text(host_keys)
    used = proj.board.run("hub", "use", location, "--host-key-file", str(keys))
    assert used.returncode == 0, used.stderr


def _commit(worktree: Path, name: str, text: str) -> str:
    (worktree / name).write_text(text)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "add", name], cwd=worktree, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--no-gpg-sign", "-m", f"add {name}"], cwd=worktree,
                   check=True, env=env)  # fmt: skip
    return git(worktree, "rev-parse", "HEAD")


@pytest.mark.parametrize("form", ["ssh-url", "scp-like"])
def test_an_agent_takes_pushes_and_finishes_a_task_over_ssh(
    proj: Project, server: SshServer, tmp_path: Path, form: str
) -> None:
    if form == "scp-like" and server.port22_host is None:
        pytest.skip("git's host:path form has no port, and port 22 on a loopback address "
                    "needs root (or was taken)")  # fmt: skip
    where = server.url(proj.hub) if form == "ssh-url" else server.scp(proj.hub)
    _use(proj, where, server.known_hosts(), tmp_path)
    env = {"AINARRES_HUB": where}
    task = proj.agent(DESIGNER).create_task("over ssh").task
    assert task is not None
    got = proj.board.run("next", "--json", family=IMPLEMENTER, env=env)
    assert got.returncode == 0, got.stderr
    worktree = Path(str(json.loads(got.stdout)["worktree"]))
    # The worktree hangs off the agent's copy, cloned from the ssh hub.
    copy = Path(git(worktree, "rev-parse", "--git-common-dir"))
    assert git(copy if copy.is_absolute() else worktree / copy, "config", "remote.origin.url") \
        == where  # fmt: skip
    head = _commit(worktree, "SSH.md", "made over ssh\n")
    pushed = proj.board.run("push", task.short_id, "--json", family=IMPLEMENTER, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["commit"] == head == proj.hub_ref(f"refs/heads/{task.branch}")
    done = proj.board.run("done", task.short_id, family=IMPLEMENTER, env=env)
    assert done.returncode == 0, done.stderr
    with proj.board.operator() as conn:
        stage = rows(conn, "SELECT s.name, t.head_commit FROM ainarres.tasks t JOIN "
                     "ainarres.stages s ON s.id = t.stage_id WHERE t.id = %s", task.id)  # fmt: skip
    assert stage == [{"name": "review", "head_commit": head}]
    # Each connection came through sshd, with the implementer's own key and no other.
    key = project.family_key(proj.board.settings, IMPLEMENTER)
    accepted = [ln for ln in server.log_text().splitlines() if "Accepted publickey" in ln]
    assert len(accepted) >= 3 and all(fingerprint(key) in ln for ln in accepted), accepted


def test_a_wrong_host_key_is_refused_with_exit_4(
    proj: Project, server: SshServer, tmp_path: Path
) -> None:
    impostor = public_key(make_key(tmp_path / "impostor_host"))
    _use(proj, server.url(proj.hub), f"[127.0.0.1]:{server.port} {impostor}\n", tmp_path)
    task = proj.agent(DESIGNER).create_task("never reached").task
    assert task is not None
    got = proj.board.run("next", "--json", family=IMPLEMENTER)
    assert got.returncode == 4, (got.returncode, got.stderr)
    assert "cannot reach the hub" in got.stderr and "host key in known_hosts" in got.stderr
    assert got.stderr.count("\n") == 1 and "the claim was released" in got.stderr
    with proj.board.operator() as conn:
        held = rows(conn, "SELECT holder_agent FROM ainarres.tasks WHERE id = %s", task.id)
    assert held == [{"holder_agent": None}]
    assert not list(Store(proj.board.settings.state_dir).root.glob("copies/*/*.git"))
    assert "Accepted publickey" not in server.log_text()
