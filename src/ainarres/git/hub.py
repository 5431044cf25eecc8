"""Create and configure the hub: the bare repository that every agent pushes to."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput
from ainarres.git import layout
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.hooks import MANIFEST, check_hooks, install_hooks
from ainarres.git.keys import SigningKey, allowed_signers_line

# The author of the initial commit when the source is a plain folder. Fixed so that
# importing the same folder twice (with the same dates) gives the same commit.
IMPORT_NAME = "ainarres"
IMPORT_EMAIL = "ainarres@localhost"


@dataclass(frozen=True)
class Hub:
    """A hub repository on disk."""

    path: Path
    main_ref: str = layout.MAIN_REF

    @property
    def allowed_signers_file(self) -> Path:
        """The ssh allowed-signers file that verifies push certificates."""
        return layout.allowed_signers_file(self.path)


def _is_repo_toplevel(source: Path) -> bool:
    # A folder inside some other checkout (sandbox-repo/ inside this repository) is a
    # plain folder for our purposes: only its own top level makes it a repository.
    done = git("rev-parse", "--show-toplevel", cwd=source, env=clean_env(), check=False)
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == source.resolve()


def _import_folder(hub_dir: Path, source: Path, exclude: Sequence[Path] = ()) -> None:
    """Commit every non-ignored file of ``source`` as the first commit of main, leaving
    out ``exclude`` (the state directory, with its credentials, when it lives inside)."""
    with tempfile.TemporaryDirectory(prefix="ainarres-import-") as tmp:
        env = clean_env(
            GIT_INDEX_FILE=str(Path(tmp) / "index"),
            GIT_AUTHOR_NAME=IMPORT_NAME,
            GIT_AUTHOR_EMAIL=IMPORT_EMAIL,
            GIT_COMMITTER_NAME=IMPORT_NAME,
            GIT_COMMITTER_EMAIL=IMPORT_EMAIL,
        )
        where = [f"--git-dir={hub_dir}", f"--work-tree={source}"]
        # add -A honours the folder's own .gitignore, so caches never reach the hub.
        skip = [f":(exclude){p.resolve().relative_to(source)}" for p in exclude
                if p.resolve().is_relative_to(source) and p.resolve() != source]  # fmt: skip
        git(*where, "add", "-A", "--", ".", *skip, cwd=source, env=env)
        tree = git(*where, "write-tree", env=env).stdout.strip()
        message = f"Import {source.name}\n"
        commit = git(
            *where, "commit-tree", "--no-gpg-sign", tree, env=env, input_bytes=message.encode()
        ).stdout.strip()
        # The empty old value makes update-ref fail if main somehow exists already.
        git(*where, "update-ref", "-m", "ainarres import", layout.MAIN_REF, commit, "", env=env)


CONFIG_FILE = "ainarres.toml"


def _add_checks(hub_dir: Path, test_command: str) -> None:
    """Commit a [checks] table with `test_command` to ainarres.toml on main (before the
    gate exists: it is the person's setup of the hub, not a change)."""
    base = git("rev-parse", layout.MAIN_REF, cwd=hub_dir, env=clean_env()).stdout.strip()
    shown = git("show", f"{base}:{CONFIG_FILE}", cwd=hub_dir, env=clean_env(), check=False)
    existing = shown.stdout if shown.returncode == 0 else ""
    if "[checks]" in existing:
        raise BadInput(f"main's {CONFIG_FILE} has a [checks] table already; leave out --checks")
    text = (existing.rstrip("\n") + "\n\n" if existing.strip() else "") + (
        f"# How ainarres checks each merge before it reaches main.\n[checks]\n"
        f"test = {json.dumps(test_command)}\n"
    )
    with tempfile.TemporaryDirectory(prefix="ainarres-checks-") as tmp:
        env = clean_env(GIT_INDEX_FILE=str(Path(tmp) / "index"), GIT_AUTHOR_NAME=IMPORT_NAME,
                        GIT_AUTHOR_EMAIL=IMPORT_EMAIL, GIT_COMMITTER_NAME=IMPORT_NAME,
                        GIT_COMMITTER_EMAIL=IMPORT_EMAIL)  # fmt: skip
        blob = git("hash-object", "-w", "--stdin", cwd=hub_dir, env=env,
                   input_bytes=text.encode()).stdout.strip()  # fmt: skip
        git("read-tree", base, cwd=hub_dir, env=env)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{CONFIG_FILE}", cwd=hub_dir,
            env=env)  # fmt: skip
        tree = git("write-tree", cwd=hub_dir, env=env).stdout.strip()
        commit = git("commit-tree", "--no-gpg-sign", "-p", base, tree, cwd=hub_dir, env=env,
                     input_bytes=b"Add ainarres checks\n").stdout.strip()  # fmt: skip
        git("update-ref", layout.MAIN_REF, commit, base, cwd=hub_dir, env=env)


def _configure(hub_dir: Path) -> None:
    settings = {
        # A seed makes receive-pack advertise push-cert=<nonce>, without which
        # `git push --signed` is refused. certNonceSlop stays unset (0): over ssh and
        # file transports the signed nonce must then equal the one issued to this very
        # connection, otherwise GIT_PUSH_CERT_NONCE_STATUS is BAD (SLOP over HTTP).
        "receive.certNonceSeed": secrets.token_hex(32),
        "receive.denyDeletes": "true",
        "receive.denyNonFastForwards": "true",
        "receive.fsckObjects": "true",
        # The claim epoch travels as a push option, signed inside the push certificate.
        "receive.advertisePushOptions": "true",
        # A reflog on every ref keeps the history of main's moves for audits.
        "core.logAllRefUpdates": "always",
        # Relative to the hub, so a global core.hooksPath cannot bypass the gate and a
        # moved hub still finds its hooks.
        "core.hooksPath": "hooks",
        "gpg.format": "ssh",
        "gpg.ssh.allowedSignersFile": str(layout.allowed_signers_file(hub_dir)),
    }
    for name, value in settings.items():
        git("config", name, value, cwd=hub_dir, env=clean_env())


def init_hub(
    hub_path: Path,
    source: Path,
    python: str = sys.executable,
    checks: str | None = None,
    exclude: Sequence[Path] = (),
) -> Hub:
    """Create a bare hub at ``hub_path`` whose main holds ``source``, with the gate installed.

    A git repository as ``source`` contributes its HEAD history; a plain folder is
    committed as a single commit by "ainarres <ainarres@localhost>". ``python`` is the
    interpreter the hook shims run (it must be able to import ainarres).
    """
    source = source.resolve()
    if not source.is_dir():
        raise BadInput(f"source {source} is not a folder; give the project to put on main")
    if hub_path.exists() and any(hub_path.iterdir()):
        raise BadInput(f"{hub_path} exists and is not empty; choose a new path for the hub")
    hub_path.mkdir(parents=True, exist_ok=True)
    hub_dir = hub_path.resolve()
    git("init", "--quiet", "--bare", "--initial-branch=main", str(hub_dir), env=clean_env())
    # The history goes in before the hooks exist: the gate would rightly refuse it.
    if _is_repo_toplevel(source):
        git("push", "--quiet", str(hub_dir), f"HEAD:{layout.MAIN_REF}", cwd=source, env=clean_env())
    else:
        _import_folder(hub_dir, source, (*exclude, hub_dir))
    if checks is not None:
        _add_checks(hub_dir, checks)
    _configure(hub_dir)
    state = layout.state_dir(hub_dir)
    state.mkdir(exist_ok=True)
    (state / layout.ALLOWED_SIGNERS).touch()
    install_hooks(hub_dir, python)
    return Hub(path=hub_dir)


def open_hub(hub_path: Path) -> Hub:
    """Return the Hub at ``hub_path``, checking that init_hub created it."""
    hub_dir = hub_path.resolve()
    if not layout.state_dir(hub_dir).is_dir() or not (hub_dir / "HEAD").is_file():
        raise BadInput(f"{hub_path} is not an ainarres hub; create one with init_hub")
    return Hub(path=hub_dir)


def _append_once(path: Path, line: str) -> bool:
    existing = path.read_text().splitlines() if path.exists() else []
    if line in existing:
        return False
    with path.open("a") as handle:
        handle.write(line + "\n")
    return True


def set_allowed_signer(hub: Hub, principal: str, key: SigningKey | None) -> None:
    """Make `key` the only one `principal` signs with (None: it signs with none), in one
    atomic replace of the allowed-signers file: a push signed by an old key fails at once."""
    path = hub.allowed_signers_file
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [ln for ln in lines if ln.split(" ", 1)[0] != principal]
    if key is not None:
        kept.append(allowed_signers_line(key))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".allowed_signers.")
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(line + "\n" for line in kept))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def add_allowed_signer(hub: Hub, key: SigningKey) -> bool:
    """Let ``key`` sign pushes to ``hub`` as its principal; False if it already could."""
    return _append_once(hub.allowed_signers_file, allowed_signers_line(key))


# What the gate's protection rests on in the hub's config; `hub check` verifies each.
EXPECTED_CONFIG = {
    "core.hooksPath": "hooks",
    "receive.denyDeletes": "true",
    "receive.denyNonFastForwards": "true",
    "receive.advertisePushOptions": "true",
    "gpg.format": "ssh",
}


def check_hub(hub_dir: Path) -> list[str]:
    """Problems with the hub's hooks and config: changed, missing or unexpected hooks, and
    settings the gate relies on that were altered. Empty when all is as installed."""
    problems = check_hooks(hub_dir)
    hooks_dir = hub_dir / "hooks"
    recorded: set[str] = set()
    # An unreadable manifest is already reported by check_hooks.
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        recorded = set(json.loads((hub_dir / "ainarres" / MANIFEST).read_text())["hooks"])
    for path in sorted(hooks_dir.iterdir()) if hooks_dir.is_dir() else []:
        if path.name in recorded or path.suffix == ".sample" or ".foreign" in path.name:
            continue
        if os.access(path, os.X_OK):
            problems.append(f"hook {path.name} is not ainarres's; remove it or set it aside")
    for name, want in EXPECTED_CONFIG.items():
        # --local: what the hub's own config says (our -c settings are not the hub's).
        got = git(
            "config", "--local", "--get", name, cwd=hub_dir, env=clean_env(), check=False
        ).stdout.strip()
        if got != want:
            problems.append(f"hub config {name} is {got or 'unset'!r}, expected {want!r}")
    if not git(
        "config",
        "--local",
        "--get",
        "receive.certNonceSeed",
        cwd=hub_dir,
        env=clean_env(),
        check=False,
    ).stdout.strip():
        problems.append("hub config receive.certNonceSeed is unset: signed pushes cannot work")
    return problems
