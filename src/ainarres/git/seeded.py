"""A seeded head: the implementer's commit again, with one file changed (ADR 0018).

The seeded commit has the same parents, author, committer (with their dates) and message
as the head it stands for, so that nothing but the tree tells them apart. It is written
straight into the hub's object store by the canary service, which runs where the hub is,
and the task's branch is moved to it (and back after the verdict) with a compare-and-swap
`update-ref`: a branch that moved meanwhile is left alone.
"""

from __future__ import annotations

from pathlib import Path

import pygit2

from ainarres.errors import AinarresError
from ainarres.git._env import clean_env
from ainarres.git._run import git, one_line


def _replace(repo: pygit2.Repository, tree: pygit2.Tree, parts: list[str], blob: pygit2.Oid
             ) -> pygit2.Oid:  # fmt: skip
    builder = repo.TreeBuilder(tree)
    name = parts[0]
    if len(parts) == 1:
        mode = tree[name].filemode if name in tree else pygit2.GIT_FILEMODE_BLOB
        builder.insert(name, blob, mode)
    else:
        sub = tree[name]
        if not isinstance(sub, pygit2.Tree):
            raise AinarresError(f"{name} is not a folder in {tree.id}")
        builder.insert(name, _replace(repo, sub, parts[1:], blob), pygit2.GIT_FILEMODE_TREE)
    return builder.write()


def plant(repo_path: Path, head: str, path: str, text: str) -> str:
    """The commit that is `head` with `path` holding `text`; written to `repo_path`."""
    try:
        repo = pygit2.Repository(str(repo_path))
        commit = repo.revparse_single(head).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise AinarresError(f"cannot read {head[:12]} in {repo_path}: {exc}") from None
    if commit.gpg_signature[0] is not None:
        raise AinarresError(f"{head[:12]} is a signed commit; a seeded copy would lose the "
                            "signature, so it carries no canary")  # fmt: skip
    blob = repo.create_blob(text.encode())
    tree = _replace(repo, commit.tree, path.split("/"), blob)
    oid = repo.create_commit(None, commit.author, commit.committer, commit.raw_message,
                             tree, list(commit.parent_ids))  # fmt: skip
    return str(oid)


def ref_target(repo_path: Path, ref: str) -> str | None:
    done = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo_path,
               env=clean_env(), check=False)  # fmt: skip
    return done.stdout.strip() or None


def move(repo_path: Path, ref: str, old: str, new: str) -> None:
    """Move `ref` from `old` to `new` (nothing when it is at `new` already)."""
    if ref_target(repo_path, ref) == new:
        return
    done = git("update-ref", ref, new, old, cwd=repo_path, env=clean_env(), check=False)
    if done.returncode != 0:
        raise AinarresError(f"cannot move {ref} from {old[:12]} to {new[:12]}: "
                            f"{one_line(done.stderr)}")  # fmt: skip
