"""Creating a hub: content of main, configuration, hook installation."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from githelpers import SANDBOX, Keys, commit_file, git_out, hub_ref

from ainarres.errors import AinarresError
from ainarres.git.hooks import MARKER, check_hooks, install_hooks, shim_path
from ainarres.git.hub import Hub, add_allowed_signer, init_hub, open_hub

SANDBOX_FILES = {
    ".gitignore",
    "README.md",
    "ainarres.toml",
    "pyproject.toml",
    "sandbox/__init__.py",
    "sandbox/stats.py",
    "sandbox/tokenize.py",
    "tests/__init__.py",
    "tests/test_stats.py",
    "tests/test_tokenize.py",
}


def test_sandbox_repo_has_no_git_dir() -> None:
    assert not (SANDBOX / ".git").exists()


def test_main_holds_the_sandbox_files_in_one_commit(hub: Hub) -> None:
    assert hub.main_ref == "refs/heads/main"
    assert git_out(hub.path, "rev-parse", "--is-bare-repository") == "true"
    assert git_out(hub.path, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert set(git_out(hub.path, "ls-tree", "-r", "--name-only", "main").splitlines()) == (
        SANDBOX_FILES
    )
    assert git_out(hub.path, "rev-list", "--count", "main") == "1"
    author = git_out(hub.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main")
    assert author == "ainarres <ainarres@localhost>|ainarres <ainarres@localhost>"
    assert git_out(hub.path, "show", "main:sandbox/stats.py") == (
        (SANDBOX / "sandbox" / "stats.py").read_text().strip()
    )


def test_ignored_files_of_the_source_stay_out(tmp_path: Path, keys: Keys) -> None:
    source = tmp_path / "src"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (source / ".gitignore").write_text("__pycache__/\n")
    (source / "a.py").write_text("A = 1\n")
    hub = init_hub(tmp_path / "hub", source)
    assert git_out(hub.path, "ls-tree", "-r", "--name-only", "main").splitlines() == [
        ".gitignore",
        "a.py",
    ]


def test_hub_configuration(hub: Hub) -> None:
    def config(name: str) -> str:
        return git_out(hub.path, "config", "--get", name)

    assert config("receive.denyDeletes") == "true"
    assert config("receive.denyNonFastForwards") == "true"
    assert config("gpg.format") == "ssh"
    assert config("gpg.ssh.allowedSignersFile") == str(hub.path / "ainarres" / "allowed_signers")
    assert config("core.hooksPath") == "hooks"
    assert len(config("receive.certNonceSeed")) == 64
    # Over ssh and file a nonce must be exactly the one issued whatever this says; over
    # stateless HTTP one issued up to 30 s before is this hub's (see hub._configure).
    assert config("receive.certNonceSlop") == "30"


def test_nonce_seeds_differ_between_hubs(tmp_path: Path) -> None:
    one = init_hub(tmp_path / "one", SANDBOX)
    two = init_hub(tmp_path / "two", SANDBOX)
    seeds = {git_out(h.path, "config", "receive.certNonceSeed") for h in (one, two)}
    assert len(seeds) == 2


def test_hook_shim_runs_this_interpreter_and_is_recorded(hub: Hub) -> None:
    shim = hub.path / "hooks" / "pre-receive"
    text = shim.read_text()
    assert text.splitlines()[:2] == ["#!/bin/sh", MARKER]
    shim_py = shlex.quote(str(shim_path()))
    assert f"exec {shlex.quote(sys.executable)} -I -S {shim_py} " in text
    assert "@PYTHON@" not in text and "@SHIM@" not in text
    assert shim_path().is_file() and shim_path().name == "shim.py"
    assert os.access(shim, os.X_OK)
    manifest = json.loads((hub.path / "ainarres" / "hooks.json").read_text())
    assert manifest["python"] == sys.executable
    assert set(manifest["hooks"]) == {"pre-receive"}
    assert check_hooks(hub.path) == []


def test_interpreter_path_with_spaces_is_quoted(tmp_path: Path) -> None:
    odd = tmp_path / "odd dir $HOME"
    odd.mkdir()
    # A wrapper script, not a symlink: a symlinked venv python would not find its venv.
    python = odd / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    install_hooks(tmp_path, str(python))
    done = subprocess.run(
        [str(tmp_path / "hooks" / "pre-receive")],
        input="0" * 40 + " " + "b" * 40 + " refs/heads/nope\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    assert "ainarres gate: refused refs/heads/nope:" in done.stderr


def test_foreign_hook_is_kept_aside_and_reinstall_is_idempotent(hub: Hub) -> None:
    hooks = hub.path / "hooks"
    ours = (hooks / "pre-receive").read_text()
    (hooks / "pre-receive").write_text("#!/bin/sh\necho foreign\n")
    install_hooks(hub.path, sys.executable)
    assert (hooks / "pre-receive.foreign").read_text() == "#!/bin/sh\necho foreign\n"
    assert (hooks / "pre-receive").read_text() == ours
    before = sorted(p.name for p in hooks.iterdir())
    install_hooks(hub.path, sys.executable)
    assert sorted(p.name for p in hooks.iterdir()) == before
    assert (hooks / "pre-receive").read_text() == ours
    # A second foreign hook does not overwrite the first one kept aside.
    (hooks / "pre-receive").write_text("#!/bin/sh\necho second\n")
    install_hooks(hub.path, sys.executable)
    assert (hooks / "pre-receive.foreign").read_text() == "#!/bin/sh\necho foreign\n"
    assert (hooks / "pre-receive.foreign.2").read_text() == "#!/bin/sh\necho second\n"


def test_check_hooks_reports_a_changed_or_missing_hook(hub: Hub) -> None:
    shim = hub.path / "hooks" / "pre-receive"
    shim.write_text(shim.read_text() + "# tampered\n")
    assert check_hooks(hub.path) == [
        "hook pre-receive was changed since it was installed; reinstall the hooks (ainarres "
        "hub install-hooks)"
    ]
    shim.unlink()
    assert check_hooks(hub.path) == [
        "hook pre-receive is missing; reinstall the hooks (ainarres hub install-hooks)"
    ]


def test_git_repository_source_keeps_its_history(tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    git_out(source, "init", "--quiet", "--initial-branch=trunk")
    first = commit_file(source, "a.txt", "a\n")
    second = commit_file(source, "b.txt", "b\n")
    hub = init_hub(tmp_path / "hub", source)
    assert hub_ref(hub, "refs/heads/main") == second
    assert git_out(hub.path, "rev-list", "main").splitlines() == [second, first]
    assert hub_ref(hub, "refs/heads/trunk") is None


def test_refuses_a_non_empty_hub_path(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "file").write_text("x")
    with pytest.raises(AinarresError, match="not empty"):
        init_hub(tmp_path / "hub", SANDBOX)


def test_open_hub_and_signer_lists(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    assert open_hub(hub.path) == hub
    with pytest.raises(AinarresError, match="not an ainarres hub"):
        open_hub(tmp_path)
    assert not add_allowed_signer(hub, keys.integrator)  # the fixture added it already
    assert add_allowed_signer(hub, keys.stranger)
    lines = hub.allowed_signers_file.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [
        "integrator@hub.test",
        "agent@hub.test",
        "stranger@elsewhere.test",
    ]


def test_sandbox_checks_pass_in_a_clone(hub: Hub, tmp_path: Path) -> None:
    clone = tmp_path / "work"
    git_out(tmp_path, "clone", "--quiet", str(hub.path), str(clone))
    checks = tomllib.loads((clone / "ainarres.toml").read_text())["checks"]
    argv = shlex.split(checks["test"])
    assert argv[0] == "python"
    done = subprocess.run(
        [sys.executable, *argv[1:]], cwd=clone, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stderr
