"""Real pushes through the installed pre-receive hook."""

from __future__ import annotations

from pathlib import Path

from githelpers import AGENT, Keys, commit_file, git_out, hub_ref

from ainarres.git.hub import Hub
from ainarres.git.push import clone_hub, push

MAIN = "refs/heads/main"
DECLINED = "[remote rejected] (pre-receive hook declined)"


def test_integrator_signed_push_moves_main(hub: Hub, clone: Path, keys: Keys) -> None:
    head = git_out(clone, "rev-parse", "HEAD")
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=True)
    assert result.ok, result.stderr
    assert result.ref(MAIN) is not None
    assert result.remote_lines == ()
    assert hub_ref(hub, MAIN) == head


def test_unsigned_push_of_main_is_refused(hub: Hub, clone: Path) -> None:
    before = hub_ref(hub, MAIN)
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=None, signed=False)
    assert not result.ok
    assert result.remote_lines == (
        "ainarres gate: refused refs/heads/main: the push is not signed; only an integrator "
        "may update main, with a signed push (git push --signed)",
    )
    ref = result.ref(MAIN)
    assert ref is not None and (ref.flag, ref.summary) == ("!", DECLINED)
    assert hub_ref(hub, MAIN) == before


def test_integrator_key_without_signing_is_still_unsigned(
    hub: Hub, clone: Path, keys: Keys
) -> None:
    before = hub_ref(hub, MAIN)
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=False)
    assert not result.ok
    assert "the push is not signed" in result.remote_lines[0]
    assert hub_ref(hub, MAIN) == before


def test_key_unknown_to_the_hub_is_refused(hub: Hub, clone: Path, keys: Keys) -> None:
    # git reports a valid signature by an unlisted ssh key as status G with no signer,
    # so the gate must insist on a signer, not just on G.
    before = hub_ref(hub, MAIN)
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.stranger, signed=True)
    assert not result.ok
    assert len(result.remote_lines) == 1
    line = result.remote_lines[0]
    assert line.startswith("ainarres gate: refused refs/heads/main: signing key SHA256:")
    assert line.endswith(
        "is not in the hub's allowed signers; ask the hub admin to add your public key to the "
        "allowed signers"
    )
    assert hub_ref(hub, MAIN) == before


def test_allowed_signer_who_is_not_an_integrator_is_refused(
    hub: Hub, clone: Path, keys: Keys
) -> None:
    before = hub_ref(hub, MAIN)
    result = push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.agent, signed=True)
    assert result.remote_lines == (
        f"ainarres gate: refused refs/heads/main: signer {AGENT} is not an integrator; "
        "push to refs/heads/task/<id> and let an integrator merge it",
    )
    assert hub_ref(hub, MAIN) == before


def test_anyone_may_push_a_task_branch_for_now(hub: Hub, clone: Path, keys: Keys) -> None:
    head = git_out(clone, "rev-parse", "HEAD")
    assert push(clone, "origin", ["HEAD:refs/heads/task/abc"], key=None, signed=False).ok
    assert push(clone, "origin", ["HEAD:refs/heads/task/xyz"], key=keys.stranger, signed=True).ok
    assert hub_ref(hub, "refs/heads/task/abc") == head
    assert hub_ref(hub, "refs/heads/task/xyz") == head


def test_other_branches_and_tags_are_refused(hub: Hub, clone: Path, keys: Keys) -> None:
    for ref in ("refs/heads/other", "refs/tags/v1"):
        result = push(clone, "origin", [f"HEAD:{ref}"], key=keys.integrator, signed=True)
        assert result.remote_lines == (
            f"ainarres gate: refused {ref}: the hub only holds refs/heads/main and "
            "refs/heads/task/<id>; push your work to refs/heads/task/<id>",
        )
        assert hub_ref(hub, ref) is None


def test_one_refused_ref_refuses_the_whole_push(hub: Hub, clone: Path) -> None:
    result = push(
        clone, "origin", ["HEAD:refs/heads/task/ok", f"HEAD:{MAIN}"], key=None, signed=False
    )
    assert [r.accepted for r in result.refs] == [False, False]
    assert hub_ref(hub, "refs/heads/task/ok") is None


def test_deleting_main_is_refused(hub: Hub, clone: Path, keys: Keys) -> None:
    before = hub_ref(hub, MAIN)
    result = push(clone, "origin", [f":{MAIN}"], key=keys.integrator, signed=True)
    assert result.remote_lines == (
        "ainarres gate: refused refs/heads/main: main cannot be deleted; "
        "undo a change with a new commit instead",
    )
    assert hub_ref(hub, MAIN) == before


def test_non_fast_forward_of_main_is_refused(
    hub: Hub, clone: Path, keys: Keys, tmp_path: Path
) -> None:
    assert push(clone, "origin", [f"HEAD:{MAIN}"], key=keys.integrator, signed=True).ok
    integrated = hub_ref(hub, MAIN)
    # A second clone still on the original main commits beside the integrated work.
    other = clone_hub(hub.path, tmp_path / "other")
    git_out(other, "reset", "--quiet", "--hard", "HEAD~1")
    commit_file(other, "ELSEWHERE.md", "diverged\n")
    result = push(other, "origin", [f"+HEAD:{MAIN}"], key=keys.integrator, signed=True)
    assert result.remote_lines == (
        "ainarres gate: refused refs/heads/main: the update is not a fast-forward of main; "
        "fetch main, rebase or merge onto it, and push again",
    )
    assert hub_ref(hub, MAIN) == integrated
