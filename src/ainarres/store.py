"""The state directory's layout, in one place: every path ainarres keeps under it, and the
checks that let a family or agent name become part of a path.

    <state>/
      credentials/            0700: operator.json, families/<family>.json, keys/<family>/
      hub.json                where this project's hub is
      board.json              where the board is, on a machine joined from a bundle
      known_hosts             the hub server's ssh host keys, when the hub is reached over ssh
      pg/                     the embedded PostgreSQL (board/embedded.py)
      copies/<family>/<agent>.git         an agent's one copy of the hub (bare, a cache):
                                          its task worktrees hang off it, its reviews and
                                          plans read it
      copies/<family>/_cli.git            a family's copy for a person who names no agent
      copies/_operator.git                the operator's copy, for reading the hub
      worktrees/<family>/<agent>/<branch> an agent's task worktrees
      integrator/<family>.git the integrator's copy, kept apart (ADR 0016), a cache
      jobs/<family>/<agent>/<branch>-e<epoch>/  a job's folder, kept for a person to read
      scratch/<pid>-<random>/ throwaway checkouts; removed when their process is gone
      agents/<family>/<agent>.json  the epochs a CLI agent was handed by `next`

Every copy of the hub has the same shape (`git/clone.py`) and is used under its own lock
(`git/cache.py`). A name that reaches a path is checked where it enters, with the board's
own rules, so `--family ../../credentials/operator` is refused before any file is opened;
neither rule allows `_`, so `_cli` and `_operator` are no family's or agent's names.

Older versions kept `clones/<family>/<agent>/` (a clone with a checkout) and
`mirrors/*.git` beside it; nothing reads them now, and a person may remove them once the
worktrees made from them (moved aside on first use, see `git/worktree.py`) hold nothing
they want.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ainarres.errors import BadInput
from ainarres.text import clip

# The board's own rules (migrations/0001_board.sql: families.name, agents.name).
FAMILY_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")


def family_name(name: str) -> str:
    """`name` if it can be a family's name (and so a file name), else BadInput."""
    if not isinstance(name, str) or not FAMILY_NAME.fullmatch(name):
        raise BadInput(
            f"family name {clip(str(name))!r} is not valid: use 1-64 lowercase letters, "
            "digits or ._+- starting with a letter or digit (e.g. claude-code+sonnet)"
        )
    return name


def agent_name(name: str) -> str:
    """`name` if it can be an agent's name (and so a file name), else BadInput."""
    if not isinstance(name, str) or not AGENT_NAME.fullmatch(name):
        raise BadInput(
            f"agent name {clip(str(name))!r} is not valid: use 1-128 letters, digits or "
            "._:@+- starting with a letter or digit (e.g. claude-code+sonnet-1)"
        )
    return name


def _component(text: str) -> str:
    # Branch names (task/<hex>) become one folder name.
    return text.replace("/", "_")


@dataclass(frozen=True)
class Store:
    """Paths under one state directory; names are checked before they become paths."""

    root: Path

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    @property
    def operator_credential(self) -> Path:
        return self.credentials / "operator.json"

    def family_credential(self, family: str) -> Path:
        return self.credentials / "families" / f"{family_name(family)}.json"

    def family_key(self, family: str) -> Path:
        return self.credentials / "keys" / family_name(family) / "id_ed25519"

    @property
    def hub_record(self) -> Path:
        return self.root / "hub.json"

    @property
    def board_record(self) -> Path:
        """Where the board is, for a machine joined from a bundle (`join`): a URL
        without a login, used when no --database-url or AINARRES_DATABASE_URL is given."""
        return self.root / "board.json"

    def family_ca(self, family: str) -> Path:
        """The CA certificate a joined family's login verifies the board's server with."""
        return self.root / "credentials" / "families" / f"{family_name(family)}.ca.pem"

    @property
    def known_hosts(self) -> Path:
        """The ssh host keys this machine accepts for the hub (from `join`; optional)."""
        return self.root / "known_hosts"

    def hub_copy(self, family: str | None, agent: str | None = None) -> Path:
        """The one local copy of the hub of an agent, of a family's person at the CLI (no
        agent), or of the operator (no family)."""
        if family is None:
            return self.root / "copies" / "_operator.git"
        owner = "_cli" if agent is None else agent_name(agent)
        return self.root / "copies" / family_name(family) / f"{owner}.git"

    def worktrees(self, family: str, agent: str) -> Path:
        return self.root / "worktrees" / family_name(family) / agent_name(agent)

    def job(self, family: str, agent: str, branch: str, epoch: int) -> Path:
        folder = f"{_component(branch)}-e{epoch}"
        return self.root / "jobs" / family_name(family) / agent_name(agent) / folder

    def integrator_copy(self, family: str) -> Path:
        """The integrator's copy of the hub: its own, not its family's CLI copy (ADR 0016)."""
        return self.root / "integrator" / f"{family_name(family)}.git"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    def agent_state(self, family: str, agent: str) -> Path:
        return self.root / "agents" / family_name(family) / f"{agent_name(agent)}.json"
