"""Draft gate policy: who may move which ref on the hub. A pure function, meant to move to gate/.

``decide`` sees only parsed inputs and facts gathered by the caller; it performs no I/O,
so every rule can be tested without git and the hook can gather facts only when needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ainarres.git.layout import MAIN_REF, TASK_PREFIX
from ainarres.git.pushcert import PushCert, RefUpdate


@dataclass(frozen=True)
class GateFacts:
    """What the gate knows about the hub beyond the push itself."""

    integrators: frozenset[str] = frozenset()
    # ref -> whether ``new`` descends from ``old``; filled for updates of main only.
    fast_forward: Mapping[str, bool] = field(default_factory=dict)
    # True when an earlier push used the same certificate nonce for the same updates.
    nonce_reused: bool = False


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one ref update, with the reason and remedy when refused."""

    ref: str
    allowed: bool
    why: str = ""
    remedy: str = ""

    @property
    def message(self) -> str:
        """The line shown to the pusher (as ``remote: ...``) for a refusal."""
        return f"ainarres gate: refused {self.ref}: {self.why}; {self.remedy}"


def _refuse(ref: str, why: str, remedy: str) -> Decision:
    return Decision(ref=ref, allowed=False, why=why, remedy=remedy)


def _decide_main(update: RefUpdate, cert: PushCert | None, facts: GateFacts) -> Decision:
    ref = update.ref
    if update.is_delete:
        return _refuse(ref, "main cannot be deleted", "undo a change with a new commit instead")
    if cert is None:
        return _refuse(
            ref,
            "the push is not signed",
            "only an integrator may update main, with a signed push (git push --signed)",
        )
    if cert.status != "G":
        return _refuse(
            ref,
            f"push certificate status is {cert.status or '?'} ({cert.status_meaning})",
            "sign the push with your ssh key (gpg.format=ssh, user.signingkey)",
        )
    if not cert.signer:
        return _refuse(
            ref,
            f"signing key {cert.key or '?'} is not in the hub's allowed signers",
            "ask the hub admin to add your public key to the allowed signers",
        )
    if cert.signer not in facts.integrators:
        return _refuse(
            ref,
            f"signer {cert.signer} is not an integrator",
            "push to refs/heads/task/<id> and let an integrator merge it",
        )
    if cert.nonce_status != "OK":
        return _refuse(
            ref,
            f"push certificate nonce status is {cert.nonce_status or '?'} "
            "(replayed or stale certificate)",
            "push again so that the certificate signs the nonce this hub just issued",
        )
    if facts.nonce_reused:
        return _refuse(
            ref,
            f"push certificate with nonce {cert.nonce} was already used (replayed certificate)",
            "push again so that the certificate signs a fresh nonce",
        )
    if not update.is_create and not facts.fast_forward.get(ref, False):
        return _refuse(
            ref,
            "the update is not a fast-forward of main",
            "fetch main, rebase or merge onto it, and push again",
        )
    return Decision(ref=ref, allowed=True)


def decide(updates: Sequence[RefUpdate], cert: PushCert | None, facts: GateFacts) -> list[Decision]:
    """Return one Decision per update, in order.

    Rules: main moves only forward, by a good signed push with a fresh nonce from a
    listed integrator; ``refs/heads/task/<name>`` is open to everyone for now; every
    other ref is refused.
    """
    decisions: list[Decision] = []
    for update in updates:
        if update.ref == MAIN_REF:
            decisions.append(_decide_main(update, cert, facts))
        elif update.ref.startswith(TASK_PREFIX) and len(update.ref) > len(TASK_PREFIX):
            decisions.append(Decision(ref=update.ref, allowed=True))
        else:
            decisions.append(
                _refuse(
                    update.ref,
                    "the hub only holds refs/heads/main and refs/heads/task/<id>",
                    "push your work to refs/heads/task/<id>",
                )
            )
    return decisions
