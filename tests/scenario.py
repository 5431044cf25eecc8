"""A real project for gate tests: a board, families with keys, a bound hub, and a clone.

Named apart from conftest so test modules can import it unambiguously.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from boardenv import REPO_ROOT, BoardEnv, must

from ainarres import project
from ainarres.board.verbs import Agent
from ainarres.git.push import PushResult, clone_hub, push

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
