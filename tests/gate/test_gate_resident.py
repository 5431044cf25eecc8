"""The resident gate (`ainarres hub gate`, gate/resident.py) and the hook shim that hands
it each push (gate/shim.py), as real processes with real signed pushes: the same verdicts
and messages as the gate judging in the hook's own process; a gate killed leaves the hook
judging in-process; a gate that takes a push and never answers refuses it; one gate per
hub; its socket is the hub account's alone."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sandboxrun import ATTEMPT, in_sandbox
from scenario import IMPLEMENTER, INTEGRATOR, MAIN, OTHER_IMPLEMENTER, Project, git
from test_gate_push import _claimed_task

from ainarres.agents.config import ProjectConfig
from ainarres.agents.swarm import Swarm
from ainarres.gate import resident
from ainarres.gate.resident import socket_path
from ainarres.gate.shim import framed
from ainarres.git import layout


def _commit(proj: Project, name: str) -> None:
    """One more commit on the checked-out task branch (commit_on starts from main)."""
    (proj.clone / name).write_text(f"{name}\n")
    git(proj.clone, "add", name)
    git(proj.clone, "commit", "--quiet", "--no-gpg-sign", "-m", f"Add {name}")


class Gate:
    """`python -m ainarres hub gate HUB` as a process, its log collected."""

    def __init__(self, hub: Path) -> None:
        self.hub = hub
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ainarres", "hub", "gate", str(hub)],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while not any("serving" in line for line in self.lines):
            assert self.proc.poll() is None, self.lines
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def verdicts(self, count: int) -> list[str]:
        """The verdicts of the pushes judged so far, once there are `count` (the gate logs
        each before it answers; its log reaches this process a moment later)."""
        deadline = time.monotonic() + 10
        while True:
            said = [ln.split()[2] for ln in self.lines if ln.startswith("gate: push ")]
            if len(said) >= count or time.monotonic() > deadline:
                return said
            time.sleep(0.02)

    def stop(self, how: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code


@pytest.fixture
def gate(proj: Project) -> Iterator[Gate]:
    running = Gate(proj.hub)
    yield running
    running.stop(signal.SIGKILL)


def test_the_resident_gate_gives_the_hooks_verdicts(proj: Project, gate: Gate) -> None:
    task, epoch = _claimed_task(proj)
    head = proj.commit_on(task.branch, "a.txt", "a\n")
    refused = proj.push(f"HEAD:refs/heads/{task.branch}", OTHER_IMPLEMENTER, epoch=epoch)
    assert not refused.ok
    assert refused.remote_lines == (
        f"ainarres gate: refused refs/heads/{task.branch}: task {task.short_id} is held by "
        f"{IMPLEMENTER}, not by {OTHER_IMPLEMENTER}; claim the task with `ainarres next` "
        "before pushing its branch",
    )
    unsigned = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch,
                         signed=False)  # fmt: skip
    assert not unsigned.ok and "signed" in " ".join(unsigned.remote_lines)
    accepted = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    assert accepted.ok, accepted.remote_lines
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head
    # the resident process judged all three, not the hooks themselves
    assert gate.verdicts(3) == ["refused", "refused", "accepted"], gate.lines
    mode = socket_path(proj.hub).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_killed_gate_leaves_the_hook_judging_in_its_own_process(
    proj: Project, gate: Gate
) -> None:
    assert gate.stop(signal.SIGKILL) == -signal.SIGKILL
    assert socket_path(proj.hub).exists()  # stale: nobody answers it
    task, epoch = _claimed_task(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    refused = proj.push(f"HEAD:refs/heads/{task.branch}", OTHER_IMPLEMENTER, epoch=epoch)
    assert not refused.ok and "is held by" in " ".join(refused.remote_lines)
    accepted = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    assert accepted.ok, accepted.remote_lines
    # and a new gate takes the stale socket over
    again = Gate(proj.hub)
    try:
        _commit(proj, "b.txt")
        assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch).ok
        assert again.verdicts(1) == ["accepted"]
    finally:
        assert again.stop() == 0
    assert not socket_path(proj.hub).exists()  # a clean stop takes the socket away


def test_a_gate_that_takes_a_push_and_never_answers_refuses_it(proj: Project) -> None:
    path = socket_path(proj.hub)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mute.bind(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)
    mute.listen(4)

    def hang_up() -> None:
        conn, _ = mute.accept()
        conn.recv(1 << 20)
        conn.close()  # takes the push, says nothing

    taker = threading.Thread(target=hang_up, daemon=True)
    taker.start()
    try:
        task, epoch = _claimed_task(proj)
        proj.commit_on(task.branch, "a.txt", "a\n")
        before = proj.refs()
        result = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    finally:
        mute.close()
        path.unlink()
    assert not result.ok
    assert any("the resident gate did not answer" in line for line in result.remote_lines)
    assert proj.refs() == before


def test_one_gate_per_hub(proj: Project, gate: Gate) -> None:
    second = subprocess.run([sys.executable, "-m", "ainarres", "hub", "gate", str(proj.hub)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert second.returncode != 0
    assert "a resident gate already serves" in second.stderr
    assert gate.proc.poll() is None  # the first one is untouched
    elsewhere = subprocess.run(
        [sys.executable, "-m", "ainarres", "hub", "gate", str(proj.hub.parent)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert elsewhere.returncode != 0 and "is not an ainarres hub" in elsewhere.stderr


def test_the_shim_names_the_state_folder_the_hub_uses() -> None:
    from ainarres.gate import shim

    assert shim.STATE_DIR == layout.STATE_DIR
    assert socket_path(Path("/hub")) == Path("/hub") / layout.STATE_DIR / shim.SOCKET_NAME


def test_the_gate_keeps_answering_when_its_board_connections_are_cut(
    proj: Project, gate: Gate
) -> None:
    task, epoch = _claimed_task(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch).ok
    with proj.board.operator() as conn:  # a board restart, as the gate's sessions see it
        cut = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'ainarres-gate'").fetchone()  # fmt: skip
    assert cut is not None and list(cut.values())[0] >= 1  # it had kept one
    _commit(proj, "b.txt")
    again = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
    assert again.ok, again.remote_lines
    _commit(proj, "c.txt")
    refused = proj.push(f"HEAD:refs/heads/{task.branch}", OTHER_IMPLEMENTER, epoch=epoch)
    assert not refused.ok and "is held by" in " ".join(refused.remote_lines)
    assert gate.verdicts(3) == ["accepted", "accepted", "refused"]


def test_the_resident_gate_reads_a_main_push_in_its_quarantine(proj: Project, gate: Gate) -> None:
    """A push to main brings objects git keeps in quarantine until the hook says yes: the
    resident gate runs its git calls (ancestry, first parents, merge-tree) in them through
    the hook's variables, or it could not accept an integrator's merge at all."""
    task, head, _ = proj.approved_task()
    merge = proj.merge_commit(head, task)
    wrong = proj.push(f"{merge}:{MAIN}", IMPLEMENTER)
    assert not wrong.ok and "is not an integrator" in " ".join(wrong.remote_lines)
    shipped = proj.push(f"{merge}:{MAIN}", INTEGRATOR)
    assert shipped.ok, shipped.remote_lines
    assert proj.hub_ref(MAIN) == merge
    # the task branch's push (approved_task), then the two pushes of main
    assert gate.verdicts(3) == ["accepted", "refused", "accepted"]


def _ask(path: Path, raw: bytes) -> bytes:
    """Send `raw` to the gate's socket as a hook would connect, return all it answers."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        conn.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)
    conn.settimeout(20)
    with conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # it hung up with our bytes unread: no answer
            return b""
    return b"".join(chunks)


def test_hostile_requests_are_refused_and_the_gate_keeps_serving(proj: Project, gate: Gate) -> None:
    """Whatever reaches the socket (a broken or hostile client of the hub's account) gets
    a refusal or nothing, changes no ref, and the next real push is judged as ever."""
    path = socket_path(proj.hub)
    line = f"{'0' * 40} {'1' * 40} refs/heads/main".encode()
    fields = [b"ainarres-gate/1", str(proj.hub).encode(), line]
    hostile = {
        "huge length": (1 << 31).to_bytes(4, "big") + b"x" * 100,
        "wrong version": framed(b"\0".join([b"other/9", *fields[1:]])),
        "another hub": framed(b"\0".join([fields[0], b"/tmp", line])),
        "odd variables": framed(b"\0".join([*fields, b"GIT_DIR"])),
        "not a frame": b"hello",
        "forged certificate": framed(
            b"\0".join([*fields, b"GIT_PUSH_CERT", b"f" * 40, b"GIT_PUSH_CERT_STATUS", b"G"])
        ),  # fmt: skip
    }
    before = proj.refs()
    # A reply is a refusal, never an acceptance. No reply at all (a hang-up) is a refusal
    # too, as the shim says "did not answer": allowed only where there is no request.
    unframed = {"huge length", "not a frame"}
    for name, raw in hostile.items():
        said = _ask(path, raw)
        if said or name not in unframed:
            assert said[4:5] == b"1", (name, said)
            assert b"ainarres gate: refused" in said, (name, said)
    assert proj.refs() == before
    assert gate.proc.poll() is None
    task, epoch = _claimed_task(proj)
    proj.commit_on(task.branch, "a.txt", "a\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch).ok


def test_a_sandboxed_tool_cannot_reach_the_gate(proj: Project, gate: Gate) -> None:
    """The hub is not in a tool's sandbox, and no unix socket can be made there anyway."""
    script = (
        ATTEMPT
        + f"""
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect({str(socket_path(proj.hub))!r})
attempt("connect to the resident gate", connect)
attempt("see the hub", lambda: os.listdir({str(proj.hub)!r}))
print(json.dumps(out))
"""
    )
    assert in_sandbox(proj, script) == {
        "connect to the resident gate": "PermissionError",
        "see the hub": "FileNotFoundError",
    }
    assert gate.verdicts(0) == []


def test_a_swarm_runs_the_gate_beside_its_agents_restarts_it_and_stops_it(proj: Project) -> None:
    """`ainarres swarm` on the hub's machine keeps the resident gate (no agents here: the
    gate is the swarm's only process); killed, it comes back; the swarm's end ends it."""
    lines: list[str] = []
    crowd = Swarm(proj.board.settings, proj.clone / "ainarres.toml", ProjectConfig(),
                  gate=proj.hub, log=lines.append)  # fmt: skip
    crowd.start()
    try:
        assert crowd.gate is not None
        _until(lambda: resident.why_not_served(proj.hub) is not None, lines)
        first = crowd.gate.proc.pid
        crowd.gate.proc.send_signal(signal.SIGKILL)
        crowd.gate.proc.wait()

        def back() -> bool:
            crowd.tend()
            return (
                crowd.gate is not None
                and crowd.gate.proc.pid != first
                and (resident.why_not_served(proj.hub) is not None)
            )

        _until(back, lines)
        assert any("swarm: gate died (exit -9); starting it again" in ln for ln in lines)
        task, epoch = _claimed_task(proj)  # a push, served by the restarted gate
        proj.commit_on(task.branch, "swarm.txt", "swarm\n")
        pushed = proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=epoch)
        assert pushed.ok, pushed.remote_lines
    finally:
        crowd.stop()
    assert crowd.gate is None and not resident.socket_path(proj.hub).exists()
    assert any(line.startswith("gate: push accepted in") for line in lines), lines


def test_a_swarm_leaves_a_gate_that_already_serves_alone(proj: Project, gate: Gate) -> None:
    lines: list[str] = []
    crowd = Swarm(proj.board.settings, proj.clone / "ainarres.toml", ProjectConfig(),
                  gate=proj.hub, log=lines.append)  # fmt: skip
    crowd.start()
    crowd.stop()
    assert crowd.gate is None
    assert any("not starting the hub's resident gate: a resident gate already serves" in line
               for line in lines)  # fmt: skip
    assert gate.proc.poll() is None and resident.why_not_served(proj.hub) is not None


def _until(check: Callable[[], bool], lines: list[str], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
