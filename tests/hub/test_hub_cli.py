"""On the hub's server: `hub authorized-keys`, `hub allow`, `hub check`'s file ownership; and
on an agent's machine, `hub use`. The real `ainarres` command against a real board."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, OTHER_IMPLEMENTER, REVIEWER, Project
from sshhub import make_key, public_key

from ainarres import project
from ainarres.git.keys import fingerprint, load_signing_key
from ainarres.git.push import push
from ainarres.models import Task
from ainarres.store import Store

FAMILIES = (DESIGNER, IMPLEMENTER, OTHER_IMPLEMENTER, REVIEWER, INTEGRATOR)


def _signers(proj: Project) -> Path:
    return proj.hub / "ainarres" / "allowed_signers"


def _pub(proj: Project, family: str) -> str:
    return public_key(project.key_path(proj.board.settings, family))


def test_authorized_keys_gives_each_family_key_git_on_this_hub_only(
    proj: Project, tmp_path: Path
) -> None:
    made = proj.board.run("hub", "authorized-keys")
    assert made.returncode == 0, made.stderr
    comments = [ln for ln in made.stdout.splitlines() if ln.startswith("#")]
    lines = [ln for ln in made.stdout.splitlines() if not ln.startswith("#")]
    assert len(comments) == 1 and str(proj.hub) in comments[0]
    command = f"{shlex.quote(sys.executable)} -I -m ainarres hub serve {shlex.quote(str(proj.hub))}"
    assert sorted(lines) == sorted(
        f'restrict,command="{command}" {_pub(proj, family)} {family}' for family in FAMILIES
    )
    # ssh-keygen reads it as an authorized_keys file: options and keys parse.
    written = tmp_path / "authorized_keys"
    written.write_text(made.stdout)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(written)], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(FAMILIES)
    as_json = proj.board.run("hub", "authorized-keys", "--json")
    data = json.loads(as_json.stdout)
    assert data["hub"] == str(proj.hub) and data["command"] == command
    assert sorted(k["line"] for k in data["keys"]) == sorted(lines)
    assert {k["family"]: f"{k['key_type']} {k['key']}" for k in data["keys"]} == {
        family: _pub(proj, family) for family in FAMILIES
    }


def test_authorized_keys_quotes_what_it_is_given_and_refuses_a_python_that_cannot_serve(
    proj: Project, tmp_path: Path
) -> None:
    odd = tmp_path / 'py th"on $(id) \\"'
    odd.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    odd.chmod(0o755)
    made = proj.board.run("hub", "authorized-keys", "--python", str(odd))
    assert made.returncode == 0, made.stderr
    line = made.stdout.splitlines()[1]
    # Inside the option's quotes a quote is \" (sshd's only escape); the shell gets the rest.
    inner = line.split('command="', 1)[1].rsplit('" ssh-ed25519 ', 1)[0].replace('\\"', '"')
    assert shlex.split(inner) == [str(odd), "-I", "-m", "ainarres", "hub", "serve", str(proj.hub)]
    for python, why in (("python3", "absolute path"), ("/bin/false", "cannot import ainarres")):
        refused = proj.board.run("hub", "authorized-keys", "--python", python)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
        assert refused.stdout == ""


def test_allow_replaces_a_familys_key_and_the_gate_follows(proj: Project, tmp_path: Path) -> None:
    fresh = make_key(tmp_path / "fresh", IMPLEMENTER)
    allowed = proj.board.run("hub", "allow", IMPLEMENTER, "--key-file", f"{fresh}.pub")
    assert allowed.returncode == 0, allowed.stderr
    assert "hub authorized-keys > ~/.ssh/authorized_keys" in allowed.stdout
    mine = [ln for ln in _signers(proj).read_text().splitlines() if ln.startswith(IMPLEMENTER)]
    assert mine == [f'{IMPLEMENTER} namespaces="git" {public_key(fresh)}']
    again = proj.board.run("hub", "allow", IMPLEMENTER, "--key", public_key(fresh))
    assert again.returncode == 0 and "nothing changed" in again.stdout
    # The gate verifies with what `hub allow` wrote: the new key signs, the old no longer.
    task = proj.agent(DESIGNER).create_task("new key").task
    claim = proj.agent(IMPLEMENTER).claim_next()
    assert isinstance(task, Task) and claim.epoch is not None
    proj.commit_on(task.branch, "k.txt", "k\n")
    old = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claim.epoch)
    assert not old.ok
    new = push(proj.clone, "origin", [f"HEAD:refs/heads/{task.branch}"],
               key=load_signing_key(fresh, IMPLEMENTER), signed=True,
               options=[f"ainarres-epoch={claim.epoch}"])  # fmt: skip
    assert new.ok, new.remote_lines
    # And it connects with it: authorized_keys follows the allowed signers.
    keys = proj.board.run("hub", "authorized-keys").stdout
    assert public_key(fresh) in keys and _pub(proj, IMPLEMENTER) not in keys


def test_allow_adds_and_removes_a_family(proj: Project, tmp_path: Path) -> None:
    newcomer = make_key(tmp_path / "newcomer")
    added = proj.board.run("hub", "allow", "aider+deepseek", "--key", public_key(newcomer))
    assert added.returncode == 0, added.stderr
    print_ = fingerprint(load_signing_key(newcomer, "aider+deepseek"))
    assert print_ in added.stdout
    assert (
        f"{public_key(newcomer)} aider+deepseek" in proj.board.run("hub", "authorized-keys").stdout
    )
    for family in ("aider+deepseek", REVIEWER):
        removed = proj.board.run("hub", "allow", family, "--remove")
        assert removed.returncode == 0 and "its pushes are refused" in removed.stdout
        assert not any(
            ln.startswith(family + " ") for ln in _signers(proj).read_text().splitlines()
        )
    twice = proj.board.run("hub", "allow", REVIEWER, "--remove")
    assert twice.returncode == 0 and "nothing changed" in twice.stdout
    keys = proj.board.run("hub", "authorized-keys").stdout
    assert REVIEWER not in keys and "aider+deepseek" not in keys and IMPLEMENTER in keys


def test_allow_refuses_bad_input_with_exit_2_and_changes_nothing(
    proj: Project, tmp_path: Path
) -> None:
    before = _signers(proj).read_bytes()
    key = make_key(tmp_path / "k")
    private = key.read_text()
    ed = public_key(key)
    blob = ed.split()[1]
    cases: dict[str, tuple[list[str], str]] = {
        "garbage": (["--key", "not a key"], "must start with its type"),
        "private": (["--key", private], "PRIVATE key"),
        "private file": (["--key-file", str(key)], "PRIVATE key"),
        "wrong type": (["--key", f"ssh-rsa {blob}"], "but its data is a 'ssh-ed25519' key"),
        "not base64": (["--key", "ssh-ed25519 AAAA$$$"], "not valid base64"),
        "cut short": (["--key", f"ssh-ed25519 {blob[:40]}"], "ssh-keygen does not accept"),
        "two keys": (["--key", f"{ed}\n{_pub(proj, DESIGNER)}"], "found 2 lines"),
        "another's": (["--key", _pub(proj, DESIGNER)], f"already {DESIGNER}'s"),
        "two ways": (["--key", ed, "--remove"], "exactly one of"),
        "no way": ([], "exactly one of"),
    }
    for name, (args, why) in cases.items():
        done = proj.board.run("hub", "allow", IMPLEMENTER, *args)
        assert done.returncode == 2 and why in done.stderr, (name, done.stderr)
        assert len(done.stderr.splitlines()) == 1, name
        assert private.splitlines()[1] not in done.stderr  # a private key is never echoed
    bad_name = proj.board.run("hub", "allow", "../credentials/operator", "--key", ed)
    assert bad_name.returncode == 2 and "family name" in bad_name.stderr
    assert _signers(proj).read_bytes() == before


def test_use_records_a_hub_elsewhere_with_its_host_keys(proj: Project, tmp_path: Path) -> None:
    url = "ssh://hub@hub.example.test:2222/srv/project.git"
    host_keys = tmp_path / "host_keys"
    line = f"[hub.example.test]:2222 {public_key(make_key(tmp_path / 'host'))}\n"
    host_keys.write_text(line)
    used = proj.board.run("hub", "use", url, "--host-key-file", str(host_keys))
    assert used.returncode == 0, used.stderr
    assert proj.board.run("hub", "show").stdout.strip() == url
    shown = json.loads(proj.board.run("hub", "show", "--json").stdout)
    assert shown == {"url": url, "path": None}
    known = Store(proj.board.settings.state_dir).known_hosts
    assert known.read_text() == line and (known.stat().st_mode & 0o777) == 0o600
    # The server's own commands say where they must run.
    for args in (("authorized-keys",), ("allow", IMPLEMENTER, "--remove"), ("check",)):
        done = proj.board.run("hub", *args)
        assert done.returncode == 2 and "run it on the hub's server" in done.stderr, args
    scp = proj.board.run("hub", "use", "hub@hub.example.test:project.git")
    assert scp.returncode == 0 and "ssh accepts the host keys in" in scp.stderr
    assert proj.board.run("hub", "show").stdout.strip() == "hub@hub.example.test:project.git"


def test_use_refuses_what_is_not_a_hub_and_keeps_the_old_one(proj: Project, tmp_path: Path) -> None:
    record = Store(proj.board.settings.state_dir).hub_record
    before = record.read_bytes()
    bad_keys = tmp_path / "bad_keys"
    bad_keys.write_text("just-a-host\n")
    (tmp_path / "plain").mkdir()
    for args, why in (
        (["--", "-oProxyCommand=touch x:/repo"], "starts with '-'"),
        (["ext::sh -c id"], "remote helper"),
        (["ftp://host/repo"], "does not speak"),
        ([str(tmp_path / "plain")], "is not an ainarres hub"),
        (["ssh://h/repo.git", "--host-key-file", str(bad_keys)], "known_hosts lines"),
    ):
        done = proj.board.run("hub", "use", *args)
        assert done.returncode == 2 and why in done.stderr, (args, done.stderr)
    assert record.read_bytes() == before
    assert not Store(proj.board.settings.state_dir).known_hosts.exists()


def _check(proj: Project) -> list[str]:
    done = proj.board.run("hub", "check")
    if done.returncode == 0:
        assert "nobody else may write them" in done.stdout
        return []
    assert done.returncode == 1
    return [ln.removeprefix("ainarres: hub check: ") for ln in done.stderr.splitlines()]


def test_check_names_every_file_another_account_could_write(proj: Project) -> None:
    assert _check(proj) == []
    config = proj.hub / "config"
    config.chmod(0o664)
    objects = proj.hub / "objects"
    objects.chmod(0o777)
    problems = _check(proj)
    assert len(problems) == 1, problems
    assert problems[0].startswith("files or folders of the hub are writable by group or others, "
                                  "who could write it past the gate (2 in all): ")  # fmt: skip
    assert f"{objects} (mode 0777)" in problems[0] and f"{config} (mode 0664)" in problems[0]
    assert problems[0].endswith(f"chmod -R go-w {proj.hub}")
    config.chmod(0o644)
    objects.chmod(0o755)
    signers = _signers(proj)
    signers.chmod(0o646)
    assert _check(proj) == [
        f"the allowed signers file {signers} is writable by group or others (mode 0646): "
        f"whoever writes it can sign as any family; chmod go-w {signers}"
    ]
    signers.chmod(0o644)
    (proj.hub / "elsewhere").symlink_to("/tmp")
    problems = _check(proj)
    assert len(problems) == 1 and "symbolic links in the hub" in problems[0], problems
    (proj.hub / "elsewhere").unlink()
    assert _check(proj) == []


def test_check_names_a_folder_above_the_hub_that_others_may_write(
    proj: Project, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)
    try:
        assert _check(proj) == [
            f"the folder {tmp_path} above the hub is writable by group or others (mode 0777), "
            f"who could swap the hub for another; chmod go-w {tmp_path}"
        ]
        tmp_path.chmod(0o1777)  # sticky, as /tmp: nobody renames what is not theirs
        assert _check(proj) == []
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another account needs root")
def test_check_names_files_that_belong_to_another_account(proj: Project) -> None:
    packed = proj.hub / "packed-refs"
    target = packed if packed.exists() else proj.hub / "HEAD"
    os.chown(target, 65534, -1)
    try:
        problems = _check(proj)
        assert len(problems) == 1, problems
        assert problems[0].startswith(
            "files or folders of the hub belong to another account than root (1 in all): "
            f"{target} (owner "
        )
        assert f"as root: chown -R root: {proj.hub}" in problems[0]
    finally:
        os.chown(target, 0, -1)
    assert _check(proj) == []
