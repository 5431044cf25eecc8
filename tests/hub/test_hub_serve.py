"""`ainarres hub serve HUB`, the forced command: which requests it lets through to git, what
it refuses, what of the session's environment git gets, and what it costs to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenario import SANDBOX

from ainarres.git.hub import Hub, init_hub
from ainarres.git.serve import Refused, Request, git_environment, parse_request

PYTHON = sys.executable


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    """A hub (not bound to a board) in a folder that plays the account's home."""
    home = tmp_path / "home-of-hub"
    home.mkdir()
    return init_hub(home / "project.git", SANDBOX)


def _home(hub: Hub) -> Path:
    return hub.path.parent


def test_the_hub_is_served_by_every_name_that_leads_to_it(hub: Hub, tmp_path: Path) -> None:
    home, path = _home(hub), hub.path
    (tmp_path / "link.git").symlink_to(path)
    (home / "sub").mkdir()
    names = [
        f"git-receive-pack '{path}'",
        f"git receive-pack '{path}'",
        f'git-receive-pack "{path}"',
        f"git-receive-pack {path}/",
        f"git-receive-pack '{tmp_path / 'link.git'}'",
        f"git-receive-pack '{home}/sub/../project.git'",
        "git-receive-pack 'project.git'",
        "git-receive-pack '~/project.git'",
        "git-receive-pack '/~/project.git'",
        "git-receive-pack 'project'",
    ]
    for command in names:
        assert parse_request(command, path, home) == Request("receive-pack", path), command
    fetch = parse_request(f"git-upload-pack '{path}'", path, home)
    assert fetch == Request("upload-pack", path)
    assert fetch.argv() == ["git", "upload-pack", str(path)]


def test_everything_else_is_refused_and_says_what_is_served(hub: Hub, tmp_path: Path) -> None:
    home, path = _home(hub), hub.path
    other = home / "other.git"
    other.mkdir()
    (home / "evil.git").symlink_to(other)
    refused = {
        None: "it has no shell",
        "": "it has no shell",
        "   ": "it has no shell",
        "id": "'id' is not git-receive-pack or git-upload-pack",
        "sh -c id": "'sh' is not",
        "bash": "'bash' is not",
        "scp -t /tmp": "'scp' is not",
        "internal-sftp": "'internal-sftp' is not",
        f"git-upload-archive '{path}'": "'git-upload-archive' is not",
        f"git upload-archive '{path}'": "'git-upload-archive' is not",
        f"git-receive-pack '{path}'; id": "takes one repository",
        f"git-receive-pack '{path}' '{path}'": "takes one repository",
        "git-receive-pack": "takes one repository",
        "git-receive-pack ''": "takes one repository",
        f"git-receive-pack '{other}'": "is not it",
        "git-receive-pack 'other.git'": "is not it",
        "git-receive-pack 'evil.git'": "is not it",
        f"git-receive-pack '{path}/../other.git'": "is not it",
        f"git-receive-pack '{path}/objects'": "is not it",
        "git-receive-pack '~root/project.git'": "another account's home",
        "git-receive-pack '/'": "is not it",
        f"git-receive-pack '{path}": "quoting is broken",
        f"git-receive-pack '{path}\n'": "control characters",
        "git-receive-pack '" + "a" * 5000 + "'": "too long",
    }
    for command, why in refused.items():
        with pytest.raises(Refused, match="serves only git push and fetch of the hub") as exc:
            parse_request(command, path, home)
        assert why in str(exc.value), (command, str(exc.value))


def _serve(hub: Path | str, command: str | None, **env: str) -> subprocess.CompletedProcess[bytes]:
    """`python -m ainarres hub serve HUB` as sshd runs it: the request in
    SSH_ORIGINAL_COMMAND, a flush packet on stdin (the client wants nothing)."""
    full = {k: v for k, v in os.environ.items() if k != "SSH_ORIGINAL_COMMAND"}
    full.update(env)
    if command is not None:
        full["SSH_ORIGINAL_COMMAND"] = command
    return subprocess.run([PYTHON, "-I", "-m", "ainarres", "hub", "serve", str(hub)],
                          input=b"0000", env=full, capture_output=True, timeout=60,
                          check=False)  # fmt: skip


def _main_oid(hub: Hub) -> str:
    done = subprocess.run(["git", "rev-parse", "refs/heads/main"], cwd=hub.path,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def test_a_push_or_fetch_request_runs_git_on_the_hub(hub: Hub) -> None:
    pushing = _serve(hub.path, f"git-receive-pack '{hub.path}'")
    # receive-pack's advertisement: main, and the hub's own capabilities (a push-cert nonce
    # from its seed, push options), so this is git on this hub with its config.
    assert pushing.returncode == 0, pushing.stderr
    said = pushing.stdout.decode()
    assert f"{_main_oid(hub)} refs/heads/main" in said
    assert "push-cert=" in said and "push-options" in said
    fetching = _serve(hub.path, f"git upload-pack '{hub.path}'")
    assert fetching.returncode == 0, fetching.stderr
    assert f"{_main_oid(hub)} refs/heads/main" in fetching.stdout.decode()
    # "~" is the account's home as the system knows it, not a HOME the session brought.
    moved = _serve(hub.path, "git-upload-pack '~/project.git'", HOME=str(_home(hub)))
    assert moved.returncode == 1 and b"is not it" in moved.stderr


def test_git_gets_none_of_the_variables_a_client_could_send(hub: Hub, tmp_path: Path) -> None:
    """GIT_* from the session (sshd's AcceptEnv) never reach git: not a repository of the
    client's choosing, not config that turns off push options or the hooks."""
    elsewhere = tmp_path / "elsewhere.git"
    subprocess.run(["git", "init", "-q", "--bare", str(elsewhere)], check=True)
    done = _serve(
        hub.path,
        f"git-receive-pack '{hub.path}'",
        GIT_DIR=str(elsewhere),
        GIT_CONFIG_PARAMETERS="'receive.advertisepushoptions'='false'",
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="core.hooksPath",
        GIT_CONFIG_VALUE_0="/dev/null",
        LD_PRELOAD="/nonexistent.so",
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout.decode()
    assert f"{_main_oid(hub)} refs/heads/main" in said and "push-options" in said
    env = git_environment({"GIT_DIR": "x", "GIT_CONFIG_COUNT": "1", "PATH": "/usr/bin",
                           "HOME": "/h", "LC_ALL": "C", "PGSSLROOTCERT": "/ca.pem",
                           "GIT_PROTOCOL": "version=2", "PYTHONPATH": "/x",
                           "SSH_ORIGINAL_COMMAND": "id"})  # fmt: skip
    assert env == {"PATH": "/usr/bin", "HOME": "/h", "LC_ALL": "C", "PGSSLROOTCERT": "/ca.pem"}


def test_an_object_no_ref_reaches_is_not_served_even_to_protocol_v2(
    hub: Hub, tmp_path: Path
) -> None:
    """Protocol v2's upload-pack serves any object asked for by id; the hub speaks v0, so a
    commit that no ref reaches (a canary's replaced head, ADR 0018) stays unfetchable."""
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(hub.path), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "hidden"], check=True)  # fmt: skip
    hidden = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    # The object is in the hub, and no ref reaches it.
    subprocess.run(["git", "-C", str(hub.path), "fetch", "-q", str(work),
                    f"{hidden}:refs/ainarres-test/tmp"], check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(hub.path), "update-ref", "-d", "refs/ainarres-test/tmp"],
                   check=True)  # fmt: skip
    ssh = tmp_path / "ssh"
    # ssh's last argument is the command; git's own options (-o SendEnv=...) come first.
    ssh.write_text(f'#!/bin/sh\nfor a; do last="$a"; done\nSSH_ORIGINAL_COMMAND="$last" exec '
                   f"{PYTHON} -m ainarres hub serve {hub.path}\n")  # fmt: skip
    ssh.chmod(0o755)
    client = tmp_path / "client"
    subprocess.run(["git", "init", "-q", str(client)], check=True)
    env = {**os.environ, "GIT_SSH_COMMAND": str(ssh), "GIT_SSH_VARIANT": "ssh"}
    url = f"ssh://hub.test{hub.path}"
    for version in ("0", "2"):
        done = subprocess.run(["git", "-C", str(client), "-c", f"protocol.version={version}",
                               "fetch", "-q", url, hidden], env=env, capture_output=True,
                              text=True)  # fmt: skip
        assert done.returncode != 0, f"protocol v{version} served {hidden[:12]}"
        assert "not our ref" in done.stderr or "unadvertised object" in done.stderr, done.stderr
    fetched = subprocess.run(["git", "-C", str(client), "-c", "protocol.version=2", "fetch",
                              "-q", url, "refs/heads/main"], env=env, capture_output=True,
                             text=True)  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr


def test_a_refusal_is_one_line_on_stderr_and_a_non_zero_exit(hub: Hub, tmp_path: Path) -> None:
    for command in (None, "id", f"git-upload-archive '{hub.path}'", "git-upload-pack '/etc'"):
        done = _serve(hub.path, command)
        assert done.returncode == 1 and done.stdout == b"", command
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ainarres hub serve: refused: "), lines
    # Set up wrong (the authorized_keys line names a folder that is no hub): exit 2.
    plain = tmp_path / "plain.git"
    plain.mkdir()
    wrong = _serve(plain, f"git-upload-pack '{plain}'")
    assert wrong.returncode == 2 and wrong.stdout == b""
    assert wrong.stderr.decode().startswith("ainarres hub serve: not set up: ")


def _imported(args: list[str], command: str) -> set[str]:
    env = {**os.environ, "SSH_ORIGINAL_COMMAND": command}
    done = subprocess.run([PYTHON, "-I", "-X", "importtime", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and "refused" in done.stderr, done.stderr[-400:]
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}


HEAVY = ("psycopg", "click", "pygit2", "pydantic", "rich", "ainarres.board", "ainarres.cli")


def test_serving_imports_nothing_of_the_board_or_the_cli(hub: Hub) -> None:
    loaded = _imported(["-m", "ainarres.git.serve", str(hub.path)], "id")
    assert "ainarres.git" in loaded  # (the module itself runs as __main__)
    assert not {m for m in loaded if m.startswith(HEAVY)}


def test_the_forced_command_starts_without_the_board_or_the_cli(hub: Hub) -> None:
    loaded = _imported(["-m", "ainarres", "hub", "serve", str(hub.path)], "id")
    assert not {m for m in loaded if m.startswith(HEAVY)}
