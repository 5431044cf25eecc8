"""Entry point of the hub's pre-receive hook: gather facts, apply the policy, report.

This runs on every push, so it imports only the standard library and the small pure
modules it needs; git is called only when an update of main has to be checked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ainarres.gate.policy import (
    GateFacts,
    IntegrationFacts,
    MainCommit,
    SignerFacts,
    TaskBranchFacts,
    decide,
)
from ainarres.git import history, layout, nonces
from ainarres.git.pushcert import PushCert, RefUpdate, parse_push_cert, parse_ref_updates

PREFIX = "ainarres gate:"


def push_epoch(env: Mapping[str, str]) -> int | None:
    """The `ainarres-epoch=N` push option, if sent (it is signed inside the certificate)."""
    try:
        count = int(env.get("GIT_PUSH_OPTION_COUNT", "0"))
    except ValueError:
        return None
    for i in range(count):
        key, _, value = env.get(f"GIT_PUSH_OPTION_{i}", "").partition("=")
        if key == "ainarres-epoch" and value.isdigit():
            return int(value)
    return None


def gather_facts(
    updates: Sequence[RefUpdate], cert: PushCert | None, env: Mapping[str, str], hub_dir: Path
) -> GateFacts:
    """Collect what the policy needs from git and the board.

    Unsigned pushes are refused on the signature alone, so they cost no git call and no
    board connection; only signed pushes pay for the facts.
    """
    if not (layout.state_dir(hub_dir) / "board.json").exists():
        return GateFacts(bound=False)
    if cert is None:
        return GateFacts(bound=True)
    fast_forward: dict[str, bool] = {}
    main_commits: list[MainCommit] = []
    branches = []
    for update in updates:
        if update.ref == layout.MAIN_REF and not (update.is_create or update.is_delete):
            fast_forward[update.ref] = history.is_ancestor(hub_dir, update.old, update.new, env)
            if fast_forward[update.ref]:
                main_commits = [
                    MainCommit(c.oid, c.parents, c.task_id)
                    for c in history.first_parents_since(hub_dir, update.old, update.new, env)
                ]
        elif update.ref.startswith(layout.TASK_PREFIX):
            branches.append(update.ref.removeprefix("refs/heads/"))

    from ainarres.board import gate_facts  # psycopg: only signed pushes pay for it

    ids = [c.task_id for c in main_commits if c.task_id]
    board = gate_facts.fetch(layout.state_dir(hub_dir), cert.signer or None, branches, ids)
    if board is None:
        return GateFacts(bound=False)
    signer = None
    if board.signer is not None:
        signer = SignerFacts(board.signer["family"], frozenset(board.signer["roles"]))
    return GateFacts(
        bound=True,
        signer=signer,
        epoch=push_epoch(env),
        fast_forward=fast_forward,
        task_branches={
            f"refs/heads/{b}": (
                None
                if f is None
                else TaskBranchFacts(
                    f["short_id"],
                    f["stage"],
                    f["writes_branch"],
                    f["holder_family"],
                    f["epoch"],
                    f["lease_live"],
                )
            )
            for b, f in board.branches.items()
        },
        main_commits=main_commits,
        integrations={
            tid: IntegrationFacts(
                f["short_id"],
                f["stage"],
                f["head_commit"],
                f["holder_family"],
                f["lease_live"],
                f["awaits_integration"],
            )
            for tid, f in board.integrations.items()
        },
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
        facts = gather_facts(updates, cert, env, hub_dir)
        decisions = decide(updates, cert, facts)
        # Only a push that would be accepted spends its certificate: a refused push (an
        # honest mistake, retried at once) leaves the ledger alone.
        if cert is not None and cert.nonce and all(d.allowed for d in decisions):
            entry = nonces.ledger_entry(cert.nonce, cert.cert_oid)
            if nonces.check_and_record(hub_dir, entry, time.time()):
                decisions = decide(updates, cert, replace(facts, nonce_reused=True))
    except Exception as exc:  # any failure must refuse the push, never accept it
        out.write(f"{PREFIX} refused the push: internal error ({exc}); tell the hub admin\n")
        out.flush()
        return 1
    refused = [d for d in decisions if not d.allowed]
    for decision in refused:
        out.write(decision.message + "\n")
    out.flush()
    return 1 if refused else 0
