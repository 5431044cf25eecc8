"""Entry point of the hub's pre-receive hook: gather facts, apply the policy, report.

This runs on every push, so it imports only the standard library and the small pure
modules it needs. git is called only for a signed push of main or of the review notes,
and the costlier facts (a `git merge-tree` per new merge on main, the notes trees before
and after) only once the board says the signer holds the role that may move that ref:
anyone else is refused on the role alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ainarres.gate.policy import (
    INTEGRATOR_ROLE,
    NOTES_REF,
    REVIEWER_ROLE,
    GateFacts,
    MainCommit,
    MergeContent,
    NoteChange,
    NotesFacts,
    decide,
)
from ainarres.git import history, layout, nonces
from ainarres.git.pushcert import PushCert, RefUpdate, parse_push_cert, parse_ref_updates

if TYPE_CHECKING:
    from ainarres.board.gate_facts import Pool

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


def merge_content(
    hub_dir: Path, commits: Sequence[history.FirstParent], env: Mapping[str, str]
) -> dict[str, MergeContent]:
    """Each new merge's tree beside `git merge-tree --write-tree` of its two parents.

    The merges run side by side (one per CPU). Oldest first, the facts stop at the first
    commit the policy refuses on its shape or content (not two parents, a conflict,
    another tree): the commits above it are never judged. Only a tree that differs costs
    a `git diff-tree`, to name what differs.
    """
    merges = []
    for commit in commits:
        if len(commit.parents) != 2:
            break
        merges.append(commit)
    found: dict[str, MergeContent] = {}
    pairs = [(c.parents[0], c.parents[1]) for c in merges]
    for commit, merged in zip(merges, history.merge_trees(hub_dir, pairs, env), strict=True):
        differences: tuple[tuple[str, str], ...] = ()
        if merged.tree is not None and merged.tree != commit.tree:
            differences = tuple(history.tree_changes(hub_dir, merged.tree, commit.tree, env))
        found[commit.oid] = MergeContent(commit.tree, merged.tree, merged.conflicts, differences)
        if merged.tree != commit.tree:
            break
    return found


def notes_facts(hub_dir: Path, update: RefUpdate, env: Mapping[str, str]) -> NotesFacts:
    """The notes of the old notes commit that the pushed one does not keep byte for byte."""
    diff = history.notes_diff(hub_dir, None if update.is_create else update.old, update.new, env)
    return NotesFacts(
        changed=tuple(NoteChange(a, old, new) for a, old, new in diff.changed),
        doubled=diff.doubled,
    )


def gather_facts(
    updates: Sequence[RefUpdate],
    cert: PushCert | None,
    env: Mapping[str, str],
    hub_dir: Path,
    pool: Pool | None = None,
) -> GateFacts:
    """Collect what the policy needs from git and the board.

    Unsigned pushes are refused on the signature alone, so they cost no git call and no
    board connection; only signed pushes pay for the facts. The resident gate passes its
    pool of board connections.
    """
    if not (layout.state_dir(hub_dir) / "board.json").exists():
        return GateFacts(bound=False)
    if cert is None:
        return GateFacts(bound=True)
    fast_forward: dict[str, bool] = {}
    chain: list[history.FirstParent] = []
    arriving: list[str] = []  # every commit the push brings to main
    notes_update: RefUpdate | None = None
    branches = []
    for update in updates:
        if update.ref == layout.MAIN_REF and not (update.is_create or update.is_delete):
            fast_forward[update.ref] = history.is_ancestor(hub_dir, update.old, update.new, env)
            if fast_forward[update.ref]:
                chain = history.first_parents_since(hub_dir, update.old, update.new, env)
                arriving = history.commits_since(hub_dir, update.old, update.new, env)
        elif update.ref.startswith(layout.TASK_PREFIX):
            branches.append(update.ref.removeprefix("refs/heads/"))
        elif update.ref == NOTES_REF and not update.is_delete:
            if not update.is_create:
                fast_forward[update.ref] = history.is_ancestor(hub_dir, update.old, update.new, env)
            if update.is_create or fast_forward[update.ref]:
                notes_update = update
    main_commits = [MainCommit(c.oid, c.parents, c.task_id) for c in chain]

    from ainarres.board import gate_facts  # psycopg: only signed pushes pay for it

    ids = [c.task_id for c in main_commits if c.task_id]
    board = gate_facts.fetch(
        layout.state_dir(hub_dir), cert.signer or None, branches, ids, arriving, pool
    )
    if board is None:
        return GateFacts(bound=False)
    signer = board.signer
    roles = signer.roles if signer is not None else frozenset()
    content = merge_content(hub_dir, chain, env) if INTEGRATOR_ROLE in roles else {}
    notes = None
    if notes_update is not None and REVIEWER_ROLE in roles:
        notes = notes_facts(hub_dir, notes_update, env)
    return GateFacts(
        bound=True,
        signer=signer,
        epoch=push_epoch(env),
        fast_forward=fast_forward,
        task_branches={f"refs/heads/{b}": f for b, f in board.branches.items()},
        main_commits=main_commits,
        integrations=board.integrations,
        seeded=board.seeded,
        merge_content=content,
        notes=notes,
    )


def run_pre_receive(
    stdin: TextIO,
    env: Mapping[str, str],
    hub_dir: Path,
    stderr: TextIO | None = None,
    pool: Pool | None = None,
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
        facts = gather_facts(updates, cert, env, hub_dir, pool)
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
