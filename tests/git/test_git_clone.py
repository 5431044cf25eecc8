"""Local copies of the hub (one shape for all), and reading refs locally and on the hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from githelpers import commit_file, git_out

from ainarres.errors import AinarresError, BadInput, Unavailable
from ainarres.git.clone import ensure_bare_mirror, fetch, hub_ref, rev_parse, same_hub
from ainarres.git.hub import Hub
from ainarres.git.push import clone_hub


def land(hub: Hub, clone: Path, src: str, dest: str) -> str:
    """Put ``src`` of ``clone`` at ``dest`` in the hub (a fetch in the hub: no gate)."""
    git_out(hub.path, "fetch", "--quiet", str(clone), f"+{src}:{dest}")
    return git_out(hub.path, "rev-parse", dest)


def heads(repo: Path, under: str = "refs/heads/") -> dict[str, str]:
    out = git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)", under)
    return {
        name.replace(under, "refs/heads/", 1): oid for name, oid in map(str.split, out.splitlines())
    }


def hubs_heads(copy: Path) -> dict[str, str]:
    """The hub's branches as the copy has them (under refs/remotes/origin/)."""
    return heads(copy, "refs/remotes/origin/")


def test_a_copy_is_cloned_then_fetched_with_every_branch_and_prune(
    hub: Hub, tmp_path: Path
) -> None:
    work = clone_hub(hub.path, tmp_path / "work")
    commit_file(work, "a.txt", "a\n")
    land(hub, work, "HEAD", "refs/heads/task/1")
    url, dest = str(hub.path), tmp_path / "copies" / "hub.git"

    assert ensure_bare_mirror(url, dest) == dest
    assert git_out(dest, "rev-parse", "--is-bare-repository") == "true"
    assert hubs_heads(dest) == heads(hub.path)
    assert set(heads(hub.path)) == {"refs/heads/main", "refs/heads/task/1"}
    # Of the local branches only main (the hub's): the rest are the agent's own.
    assert heads(dest) == {"refs/heads/main": heads(hub.path)["refs/heads/main"]}

    commit_file(work, "b.txt", "b\n")
    land(hub, work, "HEAD", "refs/heads/main")
    land(hub, work, "HEAD", "refs/heads/task/2")
    git_out(hub.path, "update-ref", "-d", "refs/heads/task/1")
    git_out(dest, "branch", "task/mine", "main")  # an agent's task branch, not on the hub
    ensure_bare_mirror(url, dest)
    assert hubs_heads(dest) == heads(hub.path)
    assert set(heads(hub.path)) == {"refs/heads/main", "refs/heads/task/2"}
    assert set(heads(dest)) == {"refs/heads/main", "refs/heads/task/mine"}
    assert heads(dest)["refs/heads/main"] == heads(hub.path)["refs/heads/main"]

    commit_file(work, "c.txt", "c\n")
    land(hub, work, "HEAD", "refs/heads/task/3")
    fetch(dest)
    assert hubs_heads(dest) == heads(hub.path)


def test_a_copy_of_an_older_shape_is_rebuilt(hub: Hub, tmp_path: Path) -> None:
    """The integrator's mirror of older versions took every hub branch as a local one."""
    old = tmp_path / "integrator" / "person+i.git"
    git_out(tmp_path, "clone", "--quiet", "--bare", str(hub.path), str(old))
    git_out(old, "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*")
    said: list[str] = []
    ensure_bare_mirror(str(hub.path), old, said.append)
    assert said == [
        f"rebuilt {old} from the hub: an older version of ainarres made it with another shape"
    ]
    assert git_out(old, "config", "--get-all", "remote.origin.fetch").split() == [
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/heads/main:refs/heads/main",
    ]
    assert hubs_heads(old) == heads(hub.path)
    said.clear()
    ensure_bare_mirror(str(hub.path), old, said.append)
    assert said == []


def test_mirror_refuses_a_folder_that_is_something_else(hub: Hub, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file").write_text("x")
    with pytest.raises(BadInput, match="not a bare git repository"):
        ensure_bare_mirror(str(hub.path), plain)
    other = tmp_path / "other.git"
    git_out(tmp_path, "init", "--quiet", "--bare", str(other))
    git_out(other, "fetch", "--quiet", str(hub.path), "main:main")
    mirror = ensure_bare_mirror(str(other), tmp_path / "m.git")
    with pytest.raises(BadInput, match=f"is a copy of {other}, not of {hub.path}"):
        ensure_bare_mirror(str(hub.path), mirror)


def test_an_empty_folder_becomes_the_mirror(hub: Hub, tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    ensure_bare_mirror(str(hub.path), dest)
    assert hubs_heads(dest) == heads(hub.path)


def test_rev_parse(hub: Hub, tmp_path: Path) -> None:
    main = git_out(hub.path, "rev-parse", "refs/heads/main")
    assert rev_parse(hub.path, "refs/heads/main") == main
    assert rev_parse(hub.path, "main") == main
    assert rev_parse(hub.path, main[:12]) == main
    assert rev_parse(hub.path, "refs/heads/nope") is None
    assert rev_parse(hub.path, "--all") is None
    # A tree is not a commit: a mistake to report, not a missing ref.
    with pytest.raises(AinarresError, match="expected commit type"):
        rev_parse(hub.path, f"{main}^{{tree}}")
    (tmp_path / "not-a-repo").mkdir()
    with pytest.raises(AinarresError, match="cannot read main"):
        rev_parse(tmp_path / "not-a-repo", "main")


def test_hub_ref_reads_exact_names_only(hub: Hub, tmp_path: Path) -> None:
    url = str(hub.path)
    main = git_out(hub.path, "rev-parse", "refs/heads/main")
    assert hub_ref(url, "refs/heads/main") == main
    assert hub_ref(url, "refs/heads/task/1") is None
    work = clone_hub(hub.path, tmp_path / "work")
    other = commit_file(work, "a.txt", "a\n")
    # ls-remote alone would match this by its tail.
    land(hub, work, "HEAD", "refs/heads/x/refs/heads/task/1")
    assert hub_ref(url, "refs/heads/task/1") is None
    land(hub, work, "HEAD", "refs/heads/task/1")
    assert hub_ref(url, "refs/heads/task/1") == other
    with pytest.raises(BadInput, match="full ref name like refs/heads/main"):
        hub_ref(url, "main")
    with pytest.raises(Unavailable, match="cannot reach the hub"):  # exit 4
        hub_ref(str(tmp_path / "nowhere"), "refs/heads/main")


def test_a_relative_hub_path_names_the_same_mirror(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(hub.path.parent)
    ensure_bare_mirror(hub.path.name, Path("m.git"))
    # git recorded the absolute path; the second call must still recognise its hub.
    assert git_out(tmp_path / "m.git", "config", "remote.origin.url") == str(hub.path)
    ensure_bare_mirror(f"./{hub.path.name}/", Path("m.git"))


@pytest.mark.parametrize(
    ("configured", "given", "same"),
    [
        ("/srv/hub.git/.", "/srv/hub.git", True),
        ("/srv/hub.git", "/srv/other.git", False),
        ("ssh://host/srv/hub.git/", "ssh://host/srv/hub.git", True),
        ("git@host:hub.git", "git@host:other.git", False),
        ("git@host:hub.git", "git@host:hub.git", True),
    ],
)
def test_same_hub(configured: str, given: str, same: bool) -> None:
    assert same_hub(configured, given) is same
