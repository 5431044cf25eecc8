"""A real project for gate tests: a board, families with keys, a bound hub, and a clone.

Named apart from conftest so test modules can import it unambiguously.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from boardenv import (
    REPO_ROOT,
    TEMPLATE,
    BoardEnv,
    Cluster,
    create_board_database,
    drop_board_database,
    must,
)

from ainarres import project
from ainarres.board.db import open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.credentials import write_private_json
from ainarres.git import layout
from ainarres.git.push import PushResult, clone_hub, push
from ainarres.store import Store

SANDBOX = REPO_ROOT / "sandbox-repo"
MAIN = "refs/heads/main"

DESIGNER = "claude-code+opus"
IMPLEMENTER = "opencode+qwen"
OTHER_IMPLEMENTER = "codex+gpt"
REVIEWER = "grok+grok-build"
INTEGRATOR = "person+integrator"
INTEGRATOR_PASSPHRASE = "the integrator's own passphrase"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


@dataclass
class Project:
    board: BoardEnv
    hub: Path
    clone: Path

    def agent(self, family: str, name: str = "a1") -> Agent:
        return self.board.agent(family, name)

    def hub_ref(self, ref: str) -> str | None:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", ref],
            cwd=self.hub,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def refs(self) -> str:
        return git(self.hub, "for-each-ref", "--format=%(refname) %(objectname)")

    def push(
        self, refspec: str, family: str | None, *, epoch: int | None = None, signed: bool = True
    ) -> PushResult:
        key = project.family_key(self.board.settings, family) if family else None
        options = [f"ainarres-epoch={epoch}"] if epoch is not None else []
        return push(
            self.clone,
            "origin",
            [refspec],
            key=key,
            signed=signed and key is not None,
            options=options,
            passphrase=INTEGRATOR_PASSPHRASE if family == INTEGRATOR else None,
        )

    def commit_on(self, branch: str, name: str, text: str) -> str:
        """A commit on a local branch started from the hub's main."""
        git(self.clone, "fetch", "--quiet", "origin")
        git(self.clone, "checkout", "--quiet", "-B", branch, "origin/main")
        (self.clone / name).write_text(text)
        git(self.clone, "add", name)
        git(self.clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"Add {name}")
        return git(self.clone, "rev-parse", "HEAD")

    def merge_commit(self, head: str, task: UUID | None, *, onto: str = "origin/main") -> str:
        """An integration commit as `ainarres integrate` makes it, but by hand."""
        git(self.clone, "fetch", "--quiet", "origin")
        git(self.clone, "checkout", "--quiet", "--detach", onto)
        message = "Merge task\n\n" + (f"Ainarres-Task: {task}\n" if task else "")
        git(self.clone, "merge", "--quiet", "--no-ff", "--no-gpg-sign", "-m", message, head)
        return git(self.clone, "rev-parse", "HEAD")

    def approved_task(
        self, name: str = "feature.txt", text: str | None = None, *, claim: bool = True
    ) -> tuple[UUID, str, int]:
        """A task implemented (writing `name`), pushed, reviewed and, with claim, claimed by
        the integrator: returns (task id, reviewed head, integrator's epoch or 0)."""
        task = must(self.agent(DESIGNER).create_task(f"add {name}").task)
        impl = self.agent(IMPLEMENTER)
        claimed = impl.claim_next()
        assert claimed.task is not None and claimed.task.id == task.id
        assert claimed.epoch is not None
        head = self.commit_on(task.branch, name, text if text is not None else f"{name}\n")
        result = self.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claimed.epoch)
        assert result.ok, result.remote_lines
        assert impl.advance(task.id, claimed.epoch, head).ok
        rev = self.agent(REVIEWER)
        review = rev.claim_next()
        assert review.epoch is not None and rev.advance(task.id, review.epoch).ok
        if not claim:
            return task.id, head, 0
        integ = self.agent(INTEGRATOR).claim_next()
        assert integ.ok and integ.epoch is not None
        return task.id, head, integ.epoch


def make_project(board: BoardEnv, tmp_path: Path) -> Project:
    for family, role in (
        (DESIGNER, "designer"),
        (IMPLEMENTER, "implementer"),
        (OTHER_IMPLEMENTER, "implementer"),
        (REVIEWER, "reviewer"),
        (INTEGRATOR, "integrator"),
    ):
        board.add_family(family, role)
        secret = INTEGRATOR_PASSPHRASE if family == INTEGRATOR else None
        project.ensure_family_key(board.settings, family, secret)
    with board.operator() as conn:
        hub = project.init_hub(conn, board.settings, SANDBOX, tmp_path / "hub.git")
    clone = clone_hub(hub, tmp_path / "clone")
    git(clone, "config", "user.name", "Test")
    git(clone, "config", "user.email", "test@example.test")
    return Project(board, hub, clone)


# The cluster-wide state of roles: what a copy of a database shares with its template.
_ROLE_STATE = b"""
SELECT r.rolname,
       (SELECT row_to_json(a)::text FROM pg_authid a WHERE a.oid = r.oid) AS attributes,
       ARRAY(SELECT row_to_json(m)::text FROM pg_auth_members m
             WHERE m.member = r.oid OR m.roleid = r.oid ORDER BY 1) AS memberships,
       ARRAY(SELECT row_to_json(s)::text FROM pg_db_role_setting s
             WHERE s.setrole = r.oid ORDER BY 1) AS settings
FROM pg_authid r WHERE r.rolname = ANY(%(roles)s) ORDER BY 1
"""


@dataclass
class _Built:
    dbname: str
    project: Project
    roles: list[str]
    state: list[dict[str, Any]]


@dataclass
class ProjectTemplate:
    """make_project once, copied for each test instead of made again.

    The template is a database made by make_project (families, grants, the gate's login)
    and, beside it, the state directory (credential files, keys) and the hub it made. A test
    gets a database made from it with CREATE DATABASE ... TEMPLATE, copies of the files
    (modes kept), and its hub's gate bound to its own database under a login of its own.

    The families' database roles are cluster-wide, so every copy logs in as the same roles
    with the same passwords. A test that changes them (a new password, a retired family's
    NOLOGIN, other limits) would leak that into the next test: after each test the roles
    are compared with what the template made, and on any difference the template is made
    again (new database name, so new roles). A test known to change them can ask for a
    project of its own instead (`@pytest.mark.fresh_project`)."""

    cluster: Cluster
    root: Path
    _built: _Built | None = None
    _generation: itertools.count[int] = field(default_factory=itertools.count)
    _copies: dict[str, _Built] = field(default_factory=dict)

    def new_board(self, dbname: str) -> str:
        """A board database `dbname` copied from the template (made first if needed); its URL.
        The test's project files are copied by `copy` next."""
        built = self._built or self._build()
        url = create_board_database(self.cluster, dbname, built.dbname)
        self._copies[dbname] = built
        return url

    def holds(self, board: BoardEnv) -> bool:
        """Was `board` made by `new_board` (and so holds the template's families)?"""
        return board.dbname in self._copies

    def copy(self, board: BoardEnv, tmp_path: Path) -> Project:
        """The project in `tmp_path` on `board` (made by `new_board`): what make_project
        would have made there."""
        built = self._copies[board.dbname]
        made = built.project
        state = board.settings.state_dir
        shutil.copytree(made.board.settings.state_dir, state, symlinks=True)
        hub = shutil.copytree(made.hub, tmp_path / "hub.git", symlinks=True).absolute()
        # What the hub's config names by path, and its own secret.
        git(
            hub,
            "config",
            "gpg.ssh.allowedSignersFile",
            str(layout.allowed_signers_file(hub.resolve())),
        )
        git(hub, "config", "receive.certNonceSeed", secrets.token_hex(32))
        with board.operator() as conn:
            project.bind(conn, board.settings, hub)
        write_private_json(Store(state).hub_record, {"url": str(hub)})
        clone = clone_hub(hub, tmp_path / "clone")
        git(clone, "config", "user.name", "Test")
        git(clone, "config", "user.email", "test@example.test")
        return Project(board, hub, clone)

    def done(self, dbname: str) -> None:
        """After the test on `dbname` (its database dropped): if it changed the shared roles,
        the next test gets a new template."""
        built = self._copies.pop(dbname)
        if built is self._built and self._role_state(built.roles) != built.state:
            self._discard()

    def close(self) -> None:
        if self._built is not None:
            self._discard()

    def _build(self) -> _Built:
        n = next(self._generation)
        dbname = f"proj_{os.getpid()}_{n}"
        where = self.root / str(n)
        where.mkdir(parents=True)
        url = create_board_database(self.cluster, dbname, TEMPLATE)
        try:
            made = make_project(
                BoardEnv(self.cluster, dbname, Settings(where / ".ainarres", url)), where
            )
            with made.board.operator() as conn:
                found = conn.execute(b"SELECT db_role FROM ainarres.families").fetchall()
        except BaseException:
            drop_board_database(self.cluster, dbname)
            raise
        roles = [r["db_role"] for r in found]
        self._built = _Built(dbname, made, roles, self._role_state(roles))
        return self._built

    def _discard(self) -> None:
        assert self._built is not None
        drop_board_database(self.cluster, self._built.dbname)
        self._built = None

    def _role_state(self, roles: list[str]) -> list[dict[str, Any]]:
        with open_connection(self.cluster.conninfo("postgres")) as conn:
            return list(conn.execute(_ROLE_STATE, {"roles": roles}).fetchall())
