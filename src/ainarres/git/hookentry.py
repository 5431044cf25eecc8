"""Entry point of the hub's pre-receive hook: gather facts, apply the policy, report.

This runs on every push, so it imports only the standard library and the small pure
modules it needs; git is called only when an update of main has to be checked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from ainarres.git import layout, nonces
from ainarres.git.policy_draft import GateFacts, decide
from ainarres.git.pushcert import PushCert, RefUpdate, parse_push_cert, parse_ref_updates

PREFIX = "ainarres gate:"


def _is_ancestor(old: str, new: str, env: Mapping[str, str], hub_dir: Path) -> bool:
    # The hook's environment carries GIT_QUARANTINE_PATH and the alternates that make
    # the pushed (still quarantined) objects visible, so pass it through unchanged.
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", old, new],
        cwd=hub_dir,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"git merge-base failed: {done.stderr.decode(errors='replace').strip()}")
    return done.returncode == 0


def gather_facts(
    updates: Sequence[RefUpdate], cert: PushCert | None, env: Mapping[str, str], hub_dir: Path
) -> GateFacts:
    """Collect what the policy needs: integrators, main's ancestry, nonce reuse.

    Only signed pushes that touch main pay for a git call or the nonce ledger; an
    unsigned push of main is refused before ancestry matters.
    """
    fast_forward: dict[str, bool] = {}
    touches_main = False
    for update in updates:
        if update.ref != layout.MAIN_REF:
            continue
        touches_main = True
        if cert is not None and not update.is_create and not update.is_delete:
            fast_forward[update.ref] = _is_ancestor(update.old, update.new, env, hub_dir)
    reused = False
    if touches_main and cert is not None and cert.nonce_status == "OK" and cert.nonce:
        entry = nonces.ledger_entry(cert.nonce, updates)
        reused = nonces.check_and_record(hub_dir, entry, time.time())
    return GateFacts(
        integrators=layout.read_principals(layout.integrators_file(hub_dir)),
        fast_forward=fast_forward,
        nonce_reused=reused,
    )


def run_pre_receive(
    stdin: TextIO, env: Mapping[str, str], hub_dir: Path, stderr: TextIO | None = None
) -> int:
    """Judge the pushed ref updates; return 0 to accept the push, 1 to refuse all of it.

    git applies a pre-receive verdict to the whole push, so one refused ref refuses
    every ref. Each refusal is one ``ainarres gate: refused <ref>: <why>; <remedy>``
    line on stderr, which git shows to the pusher prefixed with ``remote:``. Any
    unexpected error refuses the push too: the gate fails closed.
    """
    out = sys.stderr if stderr is None else stderr
    try:
        updates = parse_ref_updates(stdin)
        cert = parse_push_cert(env)
        decisions = decide(updates, cert, gather_facts(updates, cert, env, hub_dir))
    except Exception as exc:  # any failure must refuse the push, never accept it
        out.write(f"{PREFIX} refused the push: internal error ({exc}); tell the hub admin\n")
        out.flush()
        return 1
    refused = [d for d in decisions if not d.allowed]
    for decision in refused:
        out.write(decision.message + "\n")
    out.flush()
    return 1 if refused else 0
