"""Hub locations: every form git speaks that ainarres accepts keeps its meaning, and the
forms that could make git run something are refused before git sees them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ainarres.config import Settings
from ainarres.errors import BadInput
from ainarres.git.keys import generate_signing_key
from ainarres.git.location import known_hosts_lines, parse_hub
from ainarres.project import configured_hub, record_hub, signer_step


@pytest.mark.parametrize(
    "text",
    [
        "ssh://git@hub.example:2222/srv/hub.git",
        "ssh://hub.example/srv/hub.git",
        "git+ssh://hub.example/srv/hub.git",
        "git@hub.example:srv/hub.git",
        "hub.example:/srv/hub.git",
        "https://hub.example/team/hub.git",
        "http://127.0.0.1:8080/hub.git",
    ],
)
def test_location_network_forms_reach_git_unchanged(text: str) -> None:
    hub = parse_hub(text)
    assert hub.url == text and hub.local is None and str(hub) == text
    assert hub.over_ssh == (not text.startswith("http"))


def test_location_paths_and_file_urls_are_local_and_absolute(tmp_path: Path) -> None:
    assert parse_hub(str(tmp_path / "hub.git")).local == tmp_path / "hub.git"
    assert parse_hub("hub.git", base=tmp_path).local == tmp_path / "hub.git"
    # a slash before the colon makes it a path (git's own rule), not host:path
    odd = parse_hub("./a:b", base=tmp_path)
    assert odd.local == tmp_path / "a:b" and not odd.over_ssh
    from_url = parse_hub(f"file://{tmp_path}/h%20ub.git")
    assert from_url.local == tmp_path / "h ub.git" and from_url.url == str(tmp_path / "h ub.git")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("--upload-pack=touch /tmp/pwned", "option"),
        ("-oProxyCommand=x", "option"),
        ("ext::sh -c touch% /tmp/pwned", "remote helper"),
        ("fd::17", "remote helper"),
        ("ftp://hub.example/hub.git", "does not speak"),
        ("ssh://hub.example", "host and a path"),
        ("ssh://hub.example:notaport/x.git", "not a valid URL"),
        ("file://elsewhere/srv/hub.git", "names a host"),
        ("hub.example:", "no path"),
        ("ssh://hub.example/x.git\n--upload-pack=y", "control"),
        (" /srv/hub.git", "spaces"),
    ],
)
def test_location_refuses_what_git_could_be_tricked_by(text: str, says: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_hub(text)
    assert says in err.value.message


def test_location_recorded_then_read_back_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AINARRES_HUB", raising=False)
    settings = Settings(state_dir=tmp_path / "state", database_url=None)
    assert configured_hub(settings) is None
    record_hub(settings, "git@hub.example:srv/hub.git",
               "hub.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE\n")  # fmt: skip
    assert configured_hub(settings) == parse_hub("git@hub.example:srv/hub.git")
    known = tmp_path / "state" / "known_hosts"
    assert known.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("AINARRES_HUB", "ssh://other.example/hub.git")
    assert str(configured_hub(settings)) == "ssh://other.example/hub.git"
    monkeypatch.setenv("AINARRES_HUB", "ext::sh")
    with pytest.raises(BadInput):
        configured_hub(settings)
    # a record written by an older version ({"path": ...}) still reads
    monkeypatch.delenv("AINARRES_HUB")
    (tmp_path / "state" / "hub.json").write_text(json.dumps({"path": str(tmp_path / "h.git")}))
    assert configured_hub(settings) == parse_hub(str(tmp_path / "h.git"))


def test_location_bad_host_keys_are_refused_and_nothing_recorded(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", database_url=None)
    with pytest.raises(BadInput):
        record_hub(settings, "ssh://hub.example/hub.git", "not a known_hosts line")
    assert not (tmp_path / "state" / "hub.json").exists()


def test_location_unreachable_hub_exits_4_and_says_what_to_check(tmp_path: Path) -> None:
    """`hub`-facing git commands that cannot reach the hub are exit 4, not a traceback."""
    code = (
        "import sys\n"
        "from ainarres.git.clone import hub_ref\n"
        "from ainarres.errors import AinarresError\n"
        "try:\n"
        f"    hub_ref({str(tmp_path / 'missing.git')!r}, 'refs/heads/main')\n"
        "except AinarresError as e:\n"
        "    print(e.message); sys.exit(e.exit_code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 4, done.stderr
    assert "cannot reach the hub" in done.stdout and "ainarres hub show" in done.stdout


def test_location_a_remote_hub_makes_key_changes_a_step_on_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allowed signers live on the hub's server only: with the hub elsewhere, adding,
    rotating or retiring a family's key says the exact command to run there."""
    monkeypatch.delenv("AINARRES_HUB", raising=False)
    settings = Settings(state_dir=tmp_path / "state", database_url=None)
    key = generate_signing_key(tmp_path / "k" / "id_ed25519", "opencode+qwen", None)
    assert signer_step(settings, "opencode+qwen", key) is None  # no hub at all
    record_hub(settings, str(tmp_path / "hub.git"))
    assert signer_step(settings, "opencode+qwen", key) is None  # a hub here: done in place
    record_hub(settings, "ssh://hub.example/srv/hub.git")
    public = " ".join(key.public_key_path.read_text().split()[:2])
    added = signer_step(settings, "opencode+qwen", key)
    assert added is not None and f"`ainarres hub allow opencode+qwen --key '{public}'`" in added
    removed = signer_step(settings, "opencode+qwen", None)
    assert removed is not None and "`ainarres hub allow opencode+qwen --remove`" in removed


def test_location_the_hub_transport_reaches_ainarres_git_only(tmp_path: Path) -> None:
    """The family's key and the integrator's askpass secret go to ainarres's own git, never
    into an environment built for other code (the integration checks run the project's)."""
    from ainarres.git import _env
    from ainarres.integrate.checks import checks_env

    saved = dict(_env._transport)
    try:
        _env.use_ssh_identity(tmp_path / "key", None, {"AINARRES_ASKPASS_SECRET": "s3cret"})
        assert "s3cret" in _env.clean_env().values()
        assert "ssh -i" in _env.clean_env()["GIT_SSH_COMMAND"]
        built = _env.clean_env(checks_env())
        assert "s3cret" not in built.values() and "GIT_SSH_COMMAND" not in built
    finally:
        _env._transport.clear()
        _env._transport.update(saved)


def test_location_host_keys_have_one_rule_for_export_join_and_hub_use() -> None:
    """A bundle's host keys are checked with the rule `record_hub` writes them with, so a
    line that would fail half-way through `join` (after the key is written) fails first."""
    from ainarres.bundle import HubPlace, check_hub

    good = "hub.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE"
    assert check_hub(HubPlace(url="ssh://hub.example/x.git", known_hosts=good)).over_ssh
    for bad in ("hub.example not-a-key-type AAAA", f"{good} \x1b[2Jcomment", "# a comment",
                "\n".join([good] * 201)):  # fmt: skip
        with pytest.raises(BadInput, match="known_hosts lines"):
            check_hub(HubPlace(url="ssh://hub.example/x.git", known_hosts=bad))
        with pytest.raises(BadInput, match="known_hosts lines"):
            known_hosts_lines(bad)
