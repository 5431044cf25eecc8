"""A chaos run: a hundred tasks, eight agents and the hub's resident gate killed at random
and started again (the agents under the same name), integrate killed inside each of its
phases, the database restarted and its postmaster SIGKILLed. At the end, after one clean
integrate, every task has shipped once (or waits for a person with a reason a person would
accept), main merges each shipped task once at its approved head, the log agrees, and
nothing is left behind.

Sized for two cores: it runs in about two minutes. Its figures are printed (run pytest with
-s to see them) and summed up in the closing note of the crash-safety issue.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from boardenv import REPO_ROOT

from ainarres import project
from ainarres.agents import config as agent_config
from ainarres.agents.swarm import Swarm
from ainarres.board import admin, migrate
from ainarres.board.db import family_conninfo, open_connection, operator_conninfo
from ainarres.board.embedded import EmbeddedServer
from ainarres.board.verbs import Agent
from ainarres.config import Settings
from ainarres.errors import BoardLost

TASKS = 100
IMPLEMENTERS = (("opencode+qwen", 2), ("codex+gpt", 2))
REVIEWERS = (("grok+grok-build", 2), ("claude-code+sonnet", 2))
DESIGNER, INTEGRATOR = "claude-code+opus", "person+integrator"
PHASES = ["fetch", "merge", "checkout", "checks", "before-push", "after-push", "shipping"]
CHAOS = 60.0  # seconds of faults; then the agents finish the work undisturbed
# Seconds for the whole run to settle: it ends as soon as no work is open (~100 s on an
# idle 2-core machine); the rest is room for a loaded one (the suite runs in parallel).
BUDGET = 400.0

TOOL = r"""
import json, os, pathlib, sys
job_dir = pathlib.Path(os.environ["AINARRES_JOB_DIR"])
task = json.loads((job_dir / "job.json").read_text())["task"]
if sys.argv[-1] == "implementer":
    out = pathlib.Path("work") / (task["branch"].replace("/", "_") + ".txt")
    out.parent.mkdir(exist_ok=True)
    out.write_text(task["title"] + "\n")
else:
    (job_dir / "result.json").write_text(json.dumps({"verdict": "approve", "reason": "ok"}))
"""


def _setup(base: Path) -> tuple[Settings, Path, Path]:
    settings = Settings(base / "state", None)
    EmbeddedServer(settings.state_dir).ensure_running()
    source = base / "project"
    shutil.copytree(REPO_ROOT / "sandbox-repo", source)
    (source / "ainarres.toml").unlink()
    secret = base / "integrator.passphrase"
    secret.write_text("chaos passphrase\n")
    secret.chmod(0o600)
    with open_connection(operator_conninfo(settings)) as conn:
        migrate.migrate(conn)
        families = [
            (DESIGNER, "designer"),
            (INTEGRATOR, "integrator"),
            *((name, "implementer") for name, _ in IMPLEMENTERS),
            *((name, "reviewer") for name, _ in REVIEWERS),
        ]
        for name, role in families:
            tool, _, model = name.partition("+")
            assert admin.add_family(conn, settings, name, tool, model).ok
            project.ensure_family_key(
                settings, name, "chaos passphrase" if role == "integrator" else None
            )
            assert admin.grant(conn, name, role).ok
        project.init_hub(conn, settings, source, None, checks="true")
    tools = base / "tools"
    tools.mkdir()
    (tools / "tool.py").write_text(TOOL)
    lines = []
    for name, count in (*IMPLEMENTERS, *REVIEWERS):
        role = "implementer" if (name, count) in IMPLEMENTERS else "reviewer"
        lines += [
            f'[families."{name}"]',
            'adapter = "script"',
            'model = "m"',
            f'roles = ["{role}"]',
            f"instances = {count}",
            f'command = ["{sys.executable}", "{tools / "tool.py"}"]',
            f'read_only_paths = ["{tools}"]',
            "",
        ]
    cfg = base / "ainarres.toml"
    cfg.write_text("\n".join(lines))
    return settings, cfg, secret


def _integrate(settings: Settings, secret: Path, failpoint: str | None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AINARRES_HOME": str(settings.state_dir),
        "AINARRES_PASSPHRASE_FILE": str(secret),
    }
    if failpoint:
        env["AINARRES_FAILPOINT"] = failpoint
    return subprocess.Popen(
        [sys.executable, "-m", "ainarres", "integrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _board(settings: Settings, sql: str) -> list[dict[str, Any]]:
    with open_connection(operator_conninfo(settings)) as conn:
        return list(conn.execute(sql.encode()).fetchall())


def _open_work(settings: Settings) -> int:
    """Tasks still to be worked (-1 while the board is away: the test does not blink)."""
    try:
        rows = _board(
            settings,
            "SELECT count(*) AS n FROM ainarres.tasks t JOIN ainarres.stages s ON s.id = "
            "t.stage_id WHERE t.open AND NOT t.blocked AND s.name <> 'brief'",
        )
    except BoardLost:
        return -1
    return int(rows[0]["n"])


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_chaos_run_ships_every_task_once(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    settings, cfg, secret = _setup(tmp_path)
    server = EmbeddedServer(settings.state_dir)
    request.addfinalizer(server.stop)  # a failed run leaves no server behind
    rng = random.Random(17)
    ids = []
    with open_connection(family_conninfo(settings, DESIGNER)) as conn:
        designer = Agent.start(conn, "designer-1")
        for i in range(TASKS):
            out = designer.create_task(f"chaos task {i}")
            assert out.ok and out.task is not None
            ids.append(out.task.id)
    log: list[str] = []
    # As `ainarres swarm` runs: with the hub's resident gate, itself killed at random below.
    crowd = Swarm(settings, cfg, agent_config.load(cfg), log=log.append,
                  gate=project.local_hub_dir(settings))  # fmt: skip
    figures: Counter[str] = Counter()
    started = time.monotonic()
    crowd.start()
    phases = list(PHASES)
    integrating: subprocess.Popen[str] | None = None
    next_kill, next_integrate = started + 2.0, started + 3.0
    restarted_db = killed_postmaster = False
    try:
        while time.monotonic() - started < BUDGET:
            now = time.monotonic()
            crowd.tend()
            if now >= next_kill and now - started < CHAOS:
                members = [*crowd.members, *([crowd.gate] if crowd.gate else [])]
                alive = [m for m in members if m.proc.poll() is None]
                if alive:
                    victim = rng.choice(alive)
                    victim.proc.send_signal(signal.SIGKILL)
                    figures["gate SIGKILLs" if victim is crowd.gate else "agent SIGKILLs"] += 1
                next_kill = now + rng.uniform(1.5, 3.0)
            if crowd.gate and not figures["gate SIGKILLs"] and now - started > 40:
                crowd.gate.proc.send_signal(signal.SIGKILL)  # at least once, mid-run
                figures["gate SIGKILLs"] += 1
            if integrating is not None and integrating.poll() is not None:
                integrating.communicate()
                integrating = None
            if integrating is None and now >= next_integrate:
                point = phases.pop(0) if phases else None
                integrating = _integrate(settings, secret, point)
                figures["integrate runs"] += 1
                if point:
                    figures["integrate killed in a phase"] += 1
                next_integrate = now + 2.0
            if not restarted_db and now - started > 15:
                server.stop()
                time.sleep(0.5)
                server.ensure_started()
                restarted_db = True
                figures["database restarts"] += 1
            if restarted_db and not killed_postmaster and now - started > 30:
                pid = server.status().pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                killed_postmaster = True
                figures["postmaster SIGKILLs"] += 1
            if killed_postmaster and not phases and _open_work(settings) == 0:
                break
            time.sleep(0.2)
    finally:
        crowd.stop()
        if integrating is not None:
            integrating.communicate(timeout=120)
    settled = time.monotonic() - started
    clean = _integrate(settings, secret, None)
    output, _ = clean.communicate(timeout=180)
    assert clean.returncode == 0, output

    # every task shipped once, or blocked with a reason a person would accept
    tasks = _board(
        settings,
        "SELECT t.id::text AS id, s.name AS stage, t.blocked, "
        "t.blocked_reason, t.head_commit FROM ainarres.tasks t JOIN ainarres.stages "
        "s ON s.id = t.stage_id",
    )
    shipped = {str(t["id"]): t["head_commit"] for t in tasks if t["stage"] == "shipped"}
    blocked = [t for t in tasks if t["blocked"]]
    assert len(shipped) + len(blocked) == TASKS, [t for t in tasks if t["stage"] != "shipped"]
    for t in blocked:
        assert "change" not in str(t["blocked_reason"]), t
    # main's first-parent history merges each shipped task once, at its approved head
    hub = settings.state_dir / "hub.git"
    merges = _git(
        hub,
        "log",
        "--first-parent",
        "--merges",
        "--format=%P %(trailers:key=Ainarres-Task,valueonly)",
        "refs/heads/main",
    ).split("\n")
    seen: Counter[str] = Counter()
    for line in filter(None, merges):
        _, head, task = line.split()
        seen[task] += 1
        assert shipped[task] == head
    assert set(seen) == set(shipped) and max(seen.values()) == 1
    # the log agrees
    moved = _board(
        settings,
        "SELECT task_id::text AS id, count(*) AS n FROM ainarres.events "
        "WHERE kind = 'advanced' AND to_stage = 'shipped' GROUP BY task_id",
    )
    assert {str(r["id"]): r["n"] for r in moved} == dict.fromkeys(shipped, 1)
    assert (
        subprocess.run(
            ["git", "fsck", "--no-progress"], cwd=hub, capture_output=True, check=False
        ).returncode
        == 0
    )
    # nothing left behind: no scratch checkout, no git lock file in any cache
    scratch = settings.state_dir / "scratch"
    assert not scratch.exists() or os.listdir(scratch) == []
    # No git lock left inside any copy of the hub (`<copy>.git.lock` beside a copy is the
    # cache's own flock file, and stays).
    for cache in ("copies", "integrator"):
        root = settings.state_dir / cache
        assert root.is_dir(), root
        left = [
            p
            for p in root.rglob("*.lock")
            if any(part.endswith(".git") for part in p.relative_to(root).parts[:-1])
            or p.name in ("index.lock", "HEAD.lock", "packed-refs.lock")
        ]
        assert left == [], left
    server.stop()

    text = "\n".join(log)
    assert figures["gate SIGKILLs"] >= 1 and "swarm: gate died" in text, text[-2000:]
    figures["restarted agents released their held tasks"] = text.count("held by an earlier run")
    figures["caches repaired or rebuilt"] = text.count("repaired ") + text.count("rebuilt ")
    minutes = settled / 60
    print(
        f"\nchaos run: {len(shipped)} shipped, {len(blocked)} blocked, in {settled:.0f} s "
        f"({len(shipped) / minutes:.0f} tasks/minute); "
        + ", ".join(f"{k}: {v}" for k, v in sorted(figures.items()))
    )
