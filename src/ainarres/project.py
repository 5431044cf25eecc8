"""The project's wiring: where the hub is, each family's signing key, binding hub and board.

A thin service between the CLI and the git/board layers; nothing here holds policy.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from ainarres.board import admin, gate_facts, reads
from ainarres.board.db import Connection, operator_conninfo
from ainarres.config import Settings
from ainarres.credentials import (
    ensure_private_dir,
    passphrase_from_file,
    write_private_json,
    write_private_text,
)
from ainarres.errors import AinarresError, BadInput
from ainarres.git import hub as hubs
from ainarres.git import layout
from ainarres.git._env import use_ssh_identity
from ainarres.git.hub import Hub
from ainarres.git.keys import (
    SigningKey,
    fingerprint,
    generate_signing_key,
    is_protected,
    load_signing_key,
    passphrase_opens,
    protect,
    replace_key,
)
from ainarres.git.location import HubLocation, known_hosts_lines, parse_hub
from ainarres.git.push import askpass_env
from ainarres.models import Outcome
from ainarres.store import Store

HUB_ENV = "AINARRES_HUB"


def key_path(settings: Settings, family: str) -> Path:
    return Store(settings.state_dir).family_key(family)


def family_key(settings: Settings, family: str) -> SigningKey:
    """The family's ssh signing key (principal = the family name)."""
    path = key_path(settings, family)
    if not path.exists():
        raise AinarresError(
            f"family {family} has no signing key at {path}; it is made by `ainarres family add`"
        )
    return load_signing_key(path, family)


def ensure_family_key(settings: Settings, family: str, passphrase: str | None = None) -> SigningKey:
    """Make the family's key once (ed25519, 0600, passphrase-protected when one is given);
    add it to the hub's allowed signers if there is a hub."""
    path = key_path(settings, family)
    if path.exists():
        key = load_signing_key(path, family)
    else:
        key = generate_signing_key(path, family, passphrase)
    hub = local_hub(settings)
    if hub is not None:
        hubs.add_allowed_signer(hub, key)
    return key


def _hub_record(settings: Settings) -> Path:
    return Store(settings.state_dir).hub_record


def configured_hub(settings: Settings) -> HubLocation | None:
    """The hub this project uses: $AINARRES_HUB, else the one `hub init` or `join`
    recorded. A location git could be tricked by is refused (`git/location.py`)."""
    if os.environ.get(HUB_ENV):
        return parse_hub(os.environ[HUB_ENV])
    return recorded_hub(settings)


def recorded_hub(settings: Settings) -> HubLocation | None:
    """The hub the state directory records (`hub init`, `hub use`, `join`), None if none."""
    try:
        record = json.loads(_hub_record(settings).read_text())
    except FileNotFoundError:
        return None
    # Older versions wrote {"path": ...}; a path is a location too.
    return parse_hub(str(record.get("url") or record["path"]), base=settings.state_dir)


def require_hub(
    settings: Settings, family: str | None = None, passphrase: str | None = None
) -> HubLocation:
    """The hub (refused when there is none). With ``family``, this process's git reaches
    an ssh hub with that family's key (opened with ``passphrase`` when it has one): the
    same key signs its pushes, and the hub's `authorized_keys` lets it run git and nothing
    else (`ainarres hub authorized-keys`)."""
    hub = configured_hub(settings)
    if hub is None:
        raise AinarresError(
            "no hub yet: make one with `ainarres hub init --from PATH`, or name one with "
            f"`ainarres hub use URL` or ${HUB_ENV}"
        )
    if family is not None and hub.over_ssh:
        known = Store(settings.state_dir).known_hosts
        unlock = askpass_env(passphrase) if passphrase else {}
        use_ssh_identity(key_path(settings, family), known if known.exists() else None, unlock)
    return hub


def record_hub(settings: Settings, location: str, known_hosts: str | None = None) -> HubLocation:
    """Remember the hub at ``location`` (a path or URL, checked) for this state directory;
    with ``known_hosts`` (lines of an ssh known_hosts file), accept only those host keys
    from an ssh hub."""
    hub = parse_hub(location)
    ensure_private_dir(settings.state_dir)
    if known_hosts is not None:
        lines = known_hosts_lines(known_hosts)
        write_private_text(Store(settings.state_dir).known_hosts, "\n".join(lines) + "\n")
    write_private_json(_hub_record(settings), {"url": hub.url})
    return hub


def local_hub_dir(settings: Settings) -> Path | None:
    """The hub's folder when its files are on this machine (None: no hub, or a remote one)."""
    hub = configured_hub(settings)
    return hub.local if hub is not None else None


def local_hub(settings: Settings) -> Hub | None:
    """The hub's repository when its files are on this machine (None: no hub, or a hub
    reached over the network, whose allowed signers are changed on its server)."""
    local = local_hub_dir(settings)
    return hubs.open_hub(local) if local is not None else None


def signer_step(settings: Settings, family: str, key: SigningKey | None) -> str | None:
    """What a person must run on the hub's server when the hub is remote and ``family``'s
    key was added, changed (``key``) or removed (None); None when nothing is to be done."""
    hub = configured_hub(settings)
    if hub is None or hub.local is not None:
        return None
    if key is None:
        return (f"the hub {hub} is on another machine: on its server run "
                f"`ainarres hub allow {family} --remove` so its pushes are refused")  # fmt: skip
    line = key.public_key_path.read_text().split()
    return (f"the hub {hub} is on another machine: on its server run "
            f"`ainarres hub allow {family} --key '{' '.join(line[:2])}'` so the gate "
            "accepts its pushes")  # fmt: skip


def init_hub(
    conn: Connection,
    settings: Settings,
    source: Path,
    path: Path | None,
    checks: str | None = None,
) -> Path:
    """Make the hub from `source` (with a [checks] test command added to main when given),
    bind it to this board, and trust every family's key."""
    if configured_hub(settings) is not None and path is None:
        raise BadInput(
            f"this project already has a hub at {configured_hub(settings)}; "
            "pass --path to make another"
        )
    hub_path = (path or settings.state_dir / "hub.git").absolute()
    hub = hubs.init_hub(hub_path, source, python=sys.executable, checks=checks,
                        exclude=[settings.state_dir])  # fmt: skip
    bind(conn, settings, hub_path)
    for family in (row.name for row in reads.families(conn)):
        key = key_path(settings, family)
        if key.exists():
            hubs.add_allowed_signer(hub, load_signing_key(key, family))
    ensure_private_dir(settings.state_dir)
    write_private_json(_hub_record(settings), {"url": str(hub_path)})
    return hub_path


def bind(conn: Connection, settings: Settings, hub_path: Path) -> str:
    """Give the hub's gate its own read-only login to this board."""
    return gate_facts.bind(conn, layout.state_dir(hub_path), operator_conninfo(settings))


PASSPHRASE_FILE_ENV = "AINARRES_PASSPHRASE_FILE"


def unlock_passphrase(
    settings: Settings, family: str, ask: Callable[[str], str] | None, use_agent: bool = False
) -> str | None:
    """The passphrase that opens the family's key, or None when it needs none (or the
    person's ssh-agent signs). From the terminal via `ask`, or, weaker, from the file
    named by $AINARRES_PASSPHRASE_FILE. A wrong one is refused before anything starts."""
    key = family_key(settings, family)
    if use_agent or not is_protected(key.private_key):
        return None
    from_file = passphrase_from_file(PASSPHRASE_FILE_ENV)
    if from_file is not None:
        passphrase = from_file
    elif ask is not None:
        passphrase = ask(f"Passphrase for {family}'s key ({key.private_key})")
    else:
        raise BadInput(
            f"{family}'s key {key.private_key} is passphrase-protected: run this on "
            f"a terminal, use --ssh-agent, or set {PASSPHRASE_FILE_ENV} (weaker)"
        )
    if not passphrase_opens(key.private_key, passphrase):
        raise BadInput(f"wrong passphrase for {key.private_key}; nothing was started")
    return passphrase


def require_protected_integrator_key(settings: Settings, family: str) -> None:
    """The integrator's key must not sit unencrypted on disk: refuse the grant until it is
    protected (`ainarres family protect`). Keys kept on another machine are not checked."""
    path = key_path(settings, family)
    if path.exists() and not is_protected(path):
        raise BadInput(
            f"{family}'s key {path} has no passphrase; the integrator's must: run "
            f"`ainarres family protect {family}` first"
        )


def protect_key(settings: Settings, family: str, passphrase: str) -> Path:
    """Put a passphrase on the family's signing key."""
    path = family_key(settings, family).private_key
    protect(path, passphrase)
    return path


def rotate_key(conn: Connection, settings: Settings, family: str, passphrase: str | None) -> str:
    """A new signing key for the family: made beside the old one, logged on the board, then
    swapped in the hub's allowed signers and on disk, all before the board's transaction
    commits. A push signed with the old key is refused from then on. Returns its
    fingerprint."""
    path = key_path(settings, family)
    if not path.exists():
        raise AinarresError(f"family {family} has no signing key at {path}")
    fresh = path.with_name(path.name + ".new")
    for leftover in (fresh, fresh.with_name(fresh.name + ".pub")):
        leftover.unlink(missing_ok=True)
    key = generate_signing_key(fresh, family, passphrase)
    with conn.transaction():
        out = admin.record_new_key(conn, family, fingerprint(key))
        if not out.ok:
            for made in (key.private_key, key.public_key_path):
                made.unlink(missing_ok=True)
            raise AinarresError(out.message, 2 if out.outcome == "invalid" else 1)
        hub = local_hub(settings)
        if hub is not None:
            hubs.set_allowed_signer(hub, family, key)
        key = replace_key(path, key)
    return fingerprint(key)


def retire_family(conn: Connection, settings: Settings, family: str, reason: str) -> Outcome:
    """Retire a family: the board disables its login and grants; its key leaves the hub's
    allowed signers; its credential and key files are removed (the history stays)."""
    with conn.transaction():
        out = admin.retire(conn, family, reason)
        if not out.ok:
            return out
        hub = local_hub(settings)
        if hub is not None:
            hubs.set_allowed_signer(hub, family, None)
    store = Store(settings.state_dir)
    store.family_credential(family).unlink(missing_ok=True)
    shutil.rmtree(store.family_key(family).parent, ignore_errors=True)
    return out
