"""The hub served over ssh by a real sshd: each family's key, from the authorized_keys that
`ainarres hub authorized-keys` prints, may run git on the hub and nothing else, and the
gate (the hub's pre-receive hook) still decides every ref."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from scenario import (
    DESIGNER,
    IMPLEMENTER,
    INTEGRATOR,
    INTEGRATOR_PASSPHRASE,
    MAIN,
    SANDBOX,
    Project,
    git,
)
from sshhub import SshServer, make_key, running_sshd

from ainarres import project
from ainarres.errors import Unavailable
from ainarres.git import _env
from ainarres.git.hub import add_allowed_signer, authorized_keys, init_hub
from ainarres.git.keys import fingerprint, load_signing_key
from ainarres.git.push import PushResult, push
from ainarres.models import Task

pytestmark = pytest.mark.slow


@dataclass
class Served:
    """A project whose hub an sshd serves, and a known_hosts file that trusts that sshd."""

    proj: Project
    server: SshServer
    known_hosts: Path

    @property
    def url(self) -> str:
        return self.server.url(self.proj.hub)

    def key(self, family: str) -> Path:
        return project.key_path(self.proj.board.settings, family)

    def push(
        self, refspec: str, family: str | None, *, epoch: int | None = None, signed: bool = True
    ) -> PushResult:
        """`git push` of the clone to the hub's ssh URL, connecting with ``family``'s key (or
        the implementer's, for an unsigned push), as ainarres's own push does."""
        _env.use_ssh_identity(self.key(family or IMPLEMENTER), self.known_hosts)
        settings = self.proj.board.settings
        key = project.family_key(settings, family) if family else None
        return push(
            self.proj.clone,
            self.url,
            [refspec],
            key=key,
            signed=signed and key is not None,
            options=[f"ainarres-epoch={epoch}"] if epoch is not None else [],
            passphrase=INTEGRATOR_PASSPHRASE if family == INTEGRATOR else None,
        )


def authorize(proj: Project, server: SshServer) -> str:
    """The hub account's authorized_keys, as the person makes it on the server."""
    made = proj.board.run("hub", "authorized-keys")
    assert made.returncode == 0, made.stderr
    server.authorize(made.stdout)
    return made.stdout


@pytest.fixture
def served(proj: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    # This process's git transport is set per family below; give it back afterwards.
    monkeypatch.setattr(_env, "_transport", {})
    with running_sshd(tmp_path) as server:
        authorize(proj, server)
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts())
        yield Served(proj, server, known)


def _claimed(proj: Project) -> tuple[Task, int]:
    task = proj.agent(DESIGNER).create_task("over ssh").task
    claim = proj.agent(IMPLEMENTER).claim_next()
    assert task is not None and claim.task is not None and claim.task.id == task.id
    assert claim.epoch is not None
    return task, claim.epoch


def test_lease_holder_push_over_ssh_goes_through_the_gate_and_is_accepted(served: Served) -> None:
    proj = served.proj
    task, epoch = _claimed(proj)
    head = proj.commit_on(task.branch, "ssh.txt", "over ssh\n")
    result = served.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    assert result.ok, (result.stderr, served.server.log_text())
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head
    # It came in through sshd, with this family's own key.
    print_ = fingerprint(project.family_key(proj.board.settings, IMPLEMENTER))
    assert f"Accepted publickey for {served.server.user} from 127.0.0.1" in served.server.log_text()
    assert print_ in served.server.log_text()


def test_unsigned_push_over_ssh_is_refused_by_the_gate(served: Served) -> None:
    proj = served.proj
    task, epoch = _claimed(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    before = proj.refs()
    result = served.push(f"HEAD:refs/heads/{task.branch}", None, epoch=epoch)
    assert not result.ok
    assert result.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: the push is not signed; the lease "
        "holder pushes its task branch signed (`ainarres push`)",
    )
    assert proj.refs() == before


def test_a_non_integrators_main_over_ssh_is_refused_and_the_integrators_goes_through(
    served: Served,
) -> None:
    proj = served.proj
    task, head, _ = proj.approved_task()
    main = proj.hub_ref(MAIN)
    merge = proj.merge_commit(head, task)
    refused = served.push(f"{merge}:{MAIN}", IMPLEMENTER)
    assert refused.remote_lines == (
        f"ainarres gate: refused refs/heads/main: signer {IMPLEMENTER} is not an integrator; "
        "push to refs/heads/task/<id> and let `ainarres integrate` merge it",
    )
    assert proj.hub_ref(MAIN) == main
    # The integrator's key is passphrase-protected: it opens it to connect and to sign.
    shipped = served.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert shipped.ok, shipped.stderr
    assert proj.hub_ref(MAIN) == merge


def test_variables_a_client_sends_cannot_turn_the_gate_off(served: Served) -> None:
    """This sshd accepts GIT_* from clients (AcceptEnv GIT_*, careless): a client that sets
    core.hooksPath=/dev/null through GIT_CONFIG_* still meets the gate."""
    proj = served.proj
    task, epoch = _claimed(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    before = proj.refs()
    command = served.server.ssh_command(
        served.key(IMPLEMENTER),
        served.known_hosts,
        "-o",
        "SetEnv=GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.hooksPath GIT_CONFIG_VALUE_0=/dev/null",
    )
    done = subprocess.run(
        ["git", "push", "--porcelain", served.url, f"HEAD:refs/heads/{task.branch}"],
        cwd=proj.clone,
        env=_env.clean_env(GIT_SSH_COMMAND=shlex.join(command)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert f"ainarres gate: refused refs/heads/{task.branch}: the push is not signed" in done.stderr
    assert proj.refs() == before
    del epoch


def test_a_key_not_in_authorized_keys_is_refused_at_the_door(
    served: Served, tmp_path: Path
) -> None:
    proj = served.proj
    stranger = make_key(tmp_path / "stranger")
    done = served.server.ssh(stranger, served.known_hosts, f"git-upload-pack '{proj.hub}'")
    assert done.returncode == 255 and "Permission denied (publickey)" in done.stderr
    # ainarres says the hub cannot be reached (exit 4), and why.
    _env.use_ssh_identity(stranger, served.known_hosts)
    with pytest.raises(Unavailable, match="Permission denied"):
        push(proj.clone, served.url, ["HEAD:refs/heads/x"], key=None, signed=False)
    # A family whose key the server removed (`hub allow --remove`, authorized_keys made
    # again) is a stranger at the door too.
    removed = proj.board.run("hub", "allow", DESIGNER, "--remove")
    assert removed.returncode == 0, removed.stderr
    lines = authorize(proj, served.server)
    assert DESIGNER not in lines and IMPLEMENTER in lines
    designer = served.server.ssh(served.key(DESIGNER), served.known_hosts, "git-upload-pack x")
    assert designer.returncode == 255 and "Permission denied (publickey)" in designer.stderr


def _refused(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode != 0 and "ainarres hub serve: refused" in done.stderr


def test_a_family_key_runs_git_on_the_hub_and_nothing_else(served: Served, tmp_path: Path) -> None:
    proj, server, known = served.proj, served.server, served.known_hosts
    key = served.key(IMPLEMENTER)
    # No command, no shell: not `id`, not a shell's way round it, not an interactive login.
    for remote in (["id"], ["sh", "-c", "id"], [f"git-upload-pack '{proj.hub}'; id"], []):
        done = server.ssh(key, known, *remote, stdin="id\n")
        assert _refused(done), (remote, done.stderr)
        assert "uid=" not in done.stdout + done.stderr
    # Another repository, however it is named, and git-upload-archive of the hub itself.
    other = tmp_path / "other.git"
    git(tmp_path, "init", "--quiet", "--bare", str(other))
    for path in (str(other), f"{proj.hub}/../other.git", "other.git", "/etc"):
        done = server.ssh(key, known, f"git-upload-pack '{path}'")
        assert _refused(done) and "is not it" in done.stderr, (path, done.stderr)
    archive = server.ssh(key, known, f"git-upload-archive '{proj.hub}'")
    assert _refused(archive) and "'git-upload-archive' is not" in archive.stderr
    _env.use_ssh_identity(key, known)
    listed = subprocess.run(["git", "ls-remote", server.url(other)], env=_env.clean_env(),
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert listed.returncode != 0 and "refused" in listed.stderr
    # No pty, even when the client insists (-tt), and no forwarding of any kind.
    tty = server.ssh(key, known, "id", options=["-tt"], timeout=30)
    assert "PTY allocation request failed" in tty.stderr and tty.returncode != 0
    assert "uid=" not in tty.stdout + tty.stderr
    stdio = server.ssh(key, known, options=["-W", f"127.0.0.1:{server.port}"])
    assert stdio.returncode == 255 and "administratively prohibited" in stdio.stderr
    back = ["-N", "-o", "ExitOnForwardFailure=yes", "-R", f"0:127.0.0.1:{server.port}"]
    reverse = server.ssh(key, known, options=back, timeout=30)
    assert reverse.returncode == 255 and "remote port forwarding failed" in reverse.stderr
    # sftp is refused too: the forced command replaces the subsystem.
    sftp = subprocess.run(
        ["sftp", "-b", "-", "-P", str(server.port), *server.ssh_command(key, known)[1:],
         f"{server.user}@127.0.0.1"],
        input=f"get {proj.hub}/config {tmp_path / 'stolen'}\n",
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sftp.returncode != 0 and not (tmp_path / "stolen").exists()
    log = server.log_text()
    assert "Starting session: subsystem" not in log and "Starting session: shell" not in log
    sessions = [ln for ln in log.splitlines() if ln.startswith("Starting session:")]
    assert sessions[-1].startswith("Starting session: forced-command (key-option)")
    # And the hub itself is served: a fetch of it works with the same key.
    fetched = subprocess.run(["git", "ls-remote", served.url, MAIN], env=_env.clean_env(),
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert fetched.returncode == 0 and fetched.stdout.split()[0] == proj.hub_ref(MAIN)


def test_a_hub_at_an_odd_path_is_served_through_sshd_and_the_shell_as_written(
    tmp_path: Path,
) -> None:
    """The forced command passes sshd's option parser (a quote is \\") and the account's
    shell (which runs it) intact: quotes, $(...), backquotes and backslashes stay text."""
    odd = tmp_path / 'the "hub" $(id>&2) `id>&2` it\'s \\"x.git'
    hub = init_hub(odd, SANDBOX)
    key = make_key(tmp_path / "family")
    add_allowed_signer(hub, load_signing_key(key, "fam+m"))
    lines, skipped = authorized_keys(hub, sys.executable)
    assert len(lines) == 1 and skipped == []
    main = git(hub.path, "rev-parse", MAIN)
    with running_sshd(tmp_path) as server:
        server.authorize(lines[0].line + "\n")
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts())
        # As git asks for it: the path in single quotes, a quote as '\''.
        quoted = "'" + str(hub.path).replace("'", "'\\''") + "'"
        done = server.ssh(key, known, f"git-upload-pack {quoted}", stdin="0000")
        assert done.returncode == 0, (done.stderr, server.log_text())
        assert f"{main} refs/heads/main" in done.stdout
        assert "uid=" not in done.stdout + done.stderr
