"""Create and configure the hub: the bare repository that every agent pushes to."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import secrets
import shlex
import stat
import struct
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput
from ainarres.git import layout
from ainarres.git._env import clean_env
from ainarres.git._run import git, run
from ainarres.git.hooks import MANIFEST, check_hooks, install_hooks
from ainarres.git.keys import SigningKey, allowed_signers_line, check_principal

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
        # `git push --signed` is refused. Over ssh and file transports the signed nonce
        # must equal the one issued to this very connection (else BAD). Over HTTP the
        # nonce is issued by one request and used in the next: git calls it OK when its
        # HMAC is this hub's and its stamp at most certNonceSlop seconds old, SLOP
        # otherwise; the gate's nonce ledger refuses any second use either way.
        "receive.certNonceSeed": secrets.token_hex(32),
        "receive.certNonceSlop": "30",
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
    _replace_signer(hub, principal, None if key is None else allowed_signers_line(key))


def _replace_signer(hub: Hub, principal: str, line: str | None) -> None:
    path = hub.allowed_signers_file
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [ln for ln in lines if ln.split(" ", 1)[0] != principal]
    if line is not None:
        kept.append(line)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".allowed_signers.")
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(ln + "\n" for ln in kept))
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
    """Problems with the hub's hooks and config: changed, missing or unexpected hooks,
    settings the gate relies on that were altered, and files that another account owns or
    may write (check_ownership). Empty when all is as installed."""
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
    return problems + check_ownership(hub_dir)


# --- The hub served over ssh: its allowed signers are also the keys that may connect. ---

# Public key types ssh-keygen can sign push certificates with (certificates are refused:
# an allowed signer is a plain key).
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})  # fmt: skip
MAX_KEY_TEXT = 16384


@dataclass(frozen=True)
class AllowedKey:
    """One key of the hub's allowed signers: who it signs as, and the key."""

    principal: str
    key_type: str
    key: str
    fingerprint: str = ""

    @property
    def public_key(self) -> str:
        return f"{self.key_type} {self.key}"


def _words(line: str) -> list[str]:
    """The whitespace-separated fields of an allowed-signers line, a double-quoted option
    value (namespaces="git,file") counting as part of its field."""
    words: list[str] = []
    current = ""
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char in " \t" and not quoted:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    return [*words, current] if current else words


def allowed_keys(hub: Hub) -> tuple[list[AllowedKey], list[str]]:
    """The hub's allowed signers as keys, and a note per line that is not one family's plain
    key (a certificate authority, several principals, an unknown key type), left out."""
    path = hub.allowed_signers_file
    lines = path.read_text().splitlines() if path.exists() else []
    keys: list[AllowedKey] = []
    skipped: list[str] = []
    for number, line in enumerate(lines, 1):
        words = _words(line)
        if not words or words[0].startswith("#"):
            continue
        where = f"{path}:{number}"
        at = next((i for i, w in enumerate(words[1:], 1) if w in KEY_TYPES), None)
        options = ",".join(words[1:at]).lower() if at is not None else ""
        if at is None or at + 1 >= len(words):
            skipped.append(f"{where}: no ssh public key of a known type")
        elif "cert-authority" in options:
            skipped.append(f"{where}: a certificate authority, not a family's key")
        elif "," in words[0]:
            skipped.append(f"{where}: several principals ({words[0]}); give each its own key")
        else:
            try:
                keys.append(AllowedKey(check_principal(words[0]), words[at], words[at + 1]))
            except BadInput:
                skipped.append(f"{where}: the principal is not a family name")
    return keys, skipped


def parse_public_key(text: str) -> AllowedKey:
    """The one ssh public key in ``text`` (`TYPE BASE64 [comment]`, as a .pub file holds it),
    checked by ssh-keygen, with its fingerprint; BadInput saying what is wrong otherwise.
    Never quotes the text back: it could be a private key given by mistake."""
    if len(text) > MAX_KEY_TEXT:
        raise BadInput(f"the key is longer than {MAX_KEY_TEXT} characters; give one public key")
    if "PRIVATE KEY" in text:
        raise BadInput("that is a PRIVATE key; give the public half (the .pub file, or the "
                       "line it holds): the private key never leaves its machine")  # fmt: skip
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise BadInput(f"expected one public key line (TYPE BASE64 [comment]), found "
                       f"{len(lines)} lines")  # fmt: skip
    words = lines[0].split()
    if len(words) < 2 or words[0] not in KEY_TYPES:
        kind = words[0][:40] if words and words[0].isascii() and words[0].isprintable() else "?"
        raise BadInput(f"the key must start with its type, one of {', '.join(sorted(KEY_TYPES))} "
                       f"(found {kind!r}); give it as ssh-keygen wrote it")  # fmt: skip
    key_type, blob = words[0], words[1]
    try:
        raw = base64.b64decode(blob, validate=True)
        (size,) = struct.unpack(">I", raw[:4])
        inner = raw[4 : 4 + size].decode("ascii")
    except (ValueError, struct.error, UnicodeDecodeError):
        raise BadInput(f"the {key_type} key's data is not valid base64 key data") from None
    if inner != key_type:
        raise BadInput(f"the key says {key_type} but its data is a {inner[:40]!r} key")
    done = run(["ssh-keygen", "-l", "-E", "sha256", "-f", "-"],
               input_bytes=f"{key_type} {blob}\n".encode(), check=False)  # fmt: skip
    if done.returncode != 0 or len(done.stdout.split()) < 2:
        raise BadInput(f"ssh-keygen does not accept the {key_type} key (a damaged key?); copy "
                       "it again from the family's .pub file")  # fmt: skip
    return AllowedKey("", key_type, blob, done.stdout.split()[1])


def allow_key(hub: Hub, principal: str, key: AllowedKey | None) -> bool:
    """Make ``key`` the one ``principal`` signs (and connects) with, None: none; False when
    nothing changed. A key already allowed for another principal is refused (one family
    per key: the gate must know who signed)."""
    check_principal(principal)
    keys, _ = allowed_keys(hub)
    mine = [k for k in keys if k.principal == principal]
    if key is None:
        if not mine and not _lines_of(hub, principal):
            return False
        _replace_signer(hub, principal, None)
        return True
    for other in keys:
        if other.principal != principal and other.public_key == key.public_key:
            raise BadInput(f"that key is already {other.principal}'s; each family signs with "
                           "a key of its own")  # fmt: skip
    line = f'{principal} namespaces="git" {key.key_type} {key.key}'  # as keys.allowed_signers_line
    if _lines_of(hub, principal) == [line]:
        return False
    _replace_signer(hub, principal, line)
    return True


def _lines_of(hub: Hub, principal: str) -> list[str]:
    path = hub.allowed_signers_file
    lines = path.read_text().splitlines() if path.exists() else []
    return [ln for ln in lines if ln.split(" ", 1)[0] == principal]


@dataclass(frozen=True)
class AuthorizedKey:
    """One authorized_keys line of the hub's account: ``family``'s key may run git on the hub."""

    family: str
    key_type: str
    key: str
    line: str


# Options of every line: `restrict` turns off pty, port, agent and X11 forwarding and
# ~/.ssh/rc (and whatever a later OpenSSH adds); the command replaces what the client asks.
AUTHORIZED_OPTIONS = "restrict"


def serve_command(hub_dir: Path, python: str) -> str:
    """The forced command (a line for the account's shell) that serves ``hub_dir``."""
    for what, text in (("the python path", python), ("the hub's path", str(hub_dir))):
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise BadInput(f"{what} {text!r} holds control characters; move it")
    # -I: the account's home (the command's folder) and PYTHON* variables stay out of the
    # import path, as in the pre-receive hook.
    return f"{shlex.quote(python)} -I -m ainarres hub serve {shlex.quote(str(hub_dir))}"


def authorized_keys(hub: Hub, python: str) -> tuple[list[AuthorizedKey], list[str]]:
    """The hub account's authorized_keys: one line per allowed signer, each limited to
    `ainarres hub serve` of this hub; and the notes of allowed_keys (lines left out)."""
    command = serve_command(hub.path, python)
    # sshd's option parser takes \\" for a quote inside the value and nothing else.
    quoted = command.replace('"', '\\"')
    keys, skipped = allowed_keys(hub)
    lines = [
        AuthorizedKey(k.principal, k.key_type, k.key,
                      f'{AUTHORIZED_OPTIONS},command="{quoted}" {k.key_type} {k.key} {k.principal}')
        for k in keys
    ]  # fmt: skip
    return lines, skipped


# --- Who may write the hub: its account, and nobody else. ---


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _summary(paths: list[tuple[Path, str]], what: str, fix: str) -> str:
    shown = ", ".join(f"{p} ({detail})" for p, detail in paths[:3])
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return f"{what} ({len(paths)} in all): {shown}{more}; {fix}"


def check_ownership(hub_dir: Path, uid: int | None = None) -> list[str]:
    """Problems with who can write the hub: each file and folder of it (its gate state and
    allowed signers too) must belong to ``uid`` (default: this process's account, the one
    that serves the hub) and be writable by nobody else, and no folder above it may let
    another account swap it. Each problem says what to run."""
    uid = os.geteuid() if uid is None else uid
    me = _owner_name(uid)
    hub_dir = Path(os.path.realpath(hub_dir))
    signers = layout.allowed_signers_file(hub_dir)
    foreign: list[tuple[Path, str]] = []
    writable: list[tuple[Path, str]] = []
    links: list[tuple[Path, str]] = []
    problems: list[str] = []
    for top, dirs, files in os.walk(hub_dir):
        base = Path(top)
        dirs.sort()
        entries = [base / name for name in sorted([*dirs, *files])]
        for path in ([base] if base == hub_dir else []) + entries:
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue  # gone while we looked (git's own temporary files)
            if stat.S_ISLNK(st.st_mode):
                links.append((path, f"to {os.readlink(path)}"))
                continue
            if st.st_uid != uid:
                foreign.append((path, f"owner {_owner_name(st.st_uid)}"))
            if st.st_mode & 0o022 and path != signers:
                writable.append((path, f"mode {stat.S_IMODE(st.st_mode):04o}"))
    if foreign:
        problems.append(_summary(foreign, f"files or folders of the hub belong to another "
                                          f"account than {me}", f"as root: chown -R {me}: "
                                          f"{shlex.quote(str(hub_dir))} (and run `hub check` as "
                                          "the account that serves the hub)"))  # fmt: skip
    if writable:
        problems.append(_summary(writable, "files or folders of the hub are writable by group or "
                                           "others, who could write it past the gate",
                                 f"chmod -R go-w {shlex.quote(str(hub_dir))}"))  # fmt: skip
    if links:
        problems.append(_summary(links, "symbolic links in the hub lead out of what this check "
                                        "sees", "put the real files in their place"))  # fmt: skip
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(signers.stat().st_mode)
        if mode & 0o022:
            problems.append(f"the allowed signers file {signers} is writable by group or others "
                            f"(mode {mode:04o}): whoever writes it can sign as any family; "
                            f"chmod go-w {shlex.quote(str(signers))}")  # fmt: skip
    for folder in hub_dir.parents:
        st = folder.stat()
        sticky = bool(st.st_mode & stat.S_ISVTX)
        if st.st_uid not in (0, uid):
            problems.append(f"the folder {folder} above the hub belongs to "
                            f"{_owner_name(st.st_uid)}, who could swap the hub for another; "
                            f"as root: chown root {shlex.quote(str(folder))}")  # fmt: skip
        elif st.st_mode & 0o022 and not sticky:
            problems.append(f"the folder {folder} above the hub is writable by group or others "
                            f"(mode {stat.S_IMODE(st.st_mode):04o}), who could swap the hub "
                            f"for another; chmod go-w {shlex.quote(str(folder))}")  # fmt: skip
    return problems


def check_python(python: str) -> str:
    """``python`` if it is an absolute path to an interpreter that imports ainarres's serve
    module (what the forced command runs), else BadInput."""
    if not Path(python).is_absolute():
        raise BadInput(f"--python {python!r} must be an absolute path (sshd runs it as written)")
    done = run([python, "-I", "-c", "import ainarres.git.serve"], check=False)
    if done.returncode != 0:
        raise BadInput(f"{python} cannot import ainarres (exit {done.returncode}); give the "
                       "python of the environment ainarres is installed in")  # fmt: skip
    return python
