"""A reviewer family cannot tell, at the moment it holds the claim, that its review round
is a canary (ADR 0018): two tasks implemented with the same code, one seeded and one not,
look alike in every relation it may read, in their event logs, in what every verb and read
gives it, in the hub's refs and objects, and in the review notes it writes on them.

What legitimately differs between two tasks is masked before comparing: ids, object ids,
times, sequence numbers, titles, branches and short ids. Ids and object ids are replaced by
labels in order of first appearance, so which of them equal which is still compared (a
record that named a task's real head beside its seeded one would have one label more).

Two ways a snapshot still tells are kept at the end as strict expected failures.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from boardenv import rows
from psycopg import sql
from scenario import REVIEWER, Project, git
from test_canary_round import canaries, implement, set_rate

from ainarres.agents.scripted import FEATURES
from ainarres.board import reads
from ainarres.board.queries import q
from ainarres.board.verbs import Agent
from ainarres.canary import service
from ainarres.git.notes import NOTES_REF
from ainarres.models import Outcome, Task
from ainarres.review import service as review

FEATURE = FEATURES["longest"]
RATE = 0.5
MODULE = FEATURE["module"]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
OID_RE = re.compile(r"\b[0-9a-f]{40}(?:[0-9a-f]{24})?\b")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d(?::?\d\d)?)?")
# Keys (columns, JSON keys) whose values are numbers given out in turn, whatever their type:
# a row's id, a task's seq (and id_rev, its id reversed), an annotation's id in an event.
SEQUENCE_KEYS = {"id", "seq", "id_rev", "annotation"}
WORDS = re.compile(r"canary|seeded", re.I)


@dataclass(frozen=True)
class Held:
    """One task as the reviewer family holds it, and what the claim gave it."""

    agent: Agent
    implementer_head: str  # the commit the implementer pushed
    raw: dict[str, Any]  # the claim's outcome as the verb returned it, before parsing
    claim: Outcome

    @property
    def task(self) -> Task:
        assert self.claim.task is not None
        return self.claim.task

    @property
    def epoch(self) -> int:
        assert self.claim.epoch is not None
        return self.claim.epoch

    @property
    def tip(self) -> str:
        assert self.task.head_commit is not None
        return self.task.head_commit


class Masker:
    """One task's records with what differs between any two tasks replaced (see the
    module's docstring). One masker per task and per compared record."""

    def __init__(self, held: Held) -> None:
        task = held.task
        # The branch ends with the id's last digits, so it goes before the short id.
        self.names = [(task.branch, "<branch>"), (task.title, "<title>"),
                      (task.short_id, "<short>")]  # fmt: skip
        self.agent = held.agent.name  # the reviewer agents are named apart (r1, r2)
        self.labels: dict[tuple[str, str], str] = {}

    def label(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self.labels:
            self.labels[key] = f"<{kind}{sum(k == kind for k, _ in self.labels)}>"
        return self.labels[key]

    def text(self, value: str) -> str:
        if value == self.agent:
            return "<agent>"
        value = UUID_RE.sub(lambda m: self.label("uuid", m[0]), value)
        value = OID_RE.sub(lambda m: self.label("oid", m[0]), value)
        value = TIME_RE.sub("<time>", value)
        for name, tag in self.names:
            value = value.replace(name, tag)
        return value

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: self.label(k, str(v)) if k in SEQUENCE_KEYS and v is not None else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, UUID):
            return self.label("uuid", str(value))
        if isinstance(value, datetime):
            return "<time>"
        if isinstance(value, str):
            return self.text(value)
        return value


def keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, recursively (lists element by element)."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(v) for v in value]
    return None


def same(what: str, a: Any, b: Any, held_a: Held, held_b: Held) -> None:
    """`a` (of task A) and `b` (of task B) are equal once masked."""
    masked_a, masked_b = Masker(held_a)(a), Masker(held_b)(b)
    assert masked_a == masked_b, f"{what} differs:\n  A: {masked_a}\n  B: {masked_b}"


def verb(agent: Agent, name: str, /, **params: Any) -> dict[str, Any]:
    """A verb's outcome as the family receives it (the named query `Agent` runs), unparsed:
    a key the Outcome model would ignore is still seen here."""
    row = agent.conn.execute(q(name), params).fetchone()
    assert row is not None
    raw = row["r"]
    assert isinstance(raw, dict)
    return raw


def seed_for_pair(proj: Project, seeded: UUID, unseeded: UUID) -> int:
    """An operator seed under which round 1 of `seeded` is seeded and of `unseeded` not
    (the service draws from the seed, the task's number on the board and the round)."""
    with proj.board.operator() as conn:
        numbers = {
            r["id"]: int(r["seq"])
            for r in rows(
                conn, "SELECT id, seq FROM ainarres.tasks WHERE id IN (%s, %s)", seeded, unseeded
            )
        }
    for seed in range(10_000):
        if service.seeded_round(RATE, seed, numbers[seeded], 1) and not service.seeded_round(
            RATE, seed, numbers[unseeded], 1
        ):
            return seed
    raise AssertionError("no seed found")


def held(proj: Project) -> tuple[Held, Held]:
    """Tasks A and B implemented alike, A's round 1 seeded and B's not, both claimed for
    review round 1 by two agents of the reviewer family: (A, B)."""
    set_rate(proj, RATE)
    a, head_a = implement(proj, "title A")
    b, head_b = implement(proj, "title B")
    set_rate(proj, RATE, seed_for_pair(proj, a, b))
    done = service.pass_once(proj.board.settings)
    assert sorted(d.what for d in done) == ["planted", "unseeded"], done
    [canary] = canaries(proj)
    assert (canary["task_id"], canary["round"], canary["state"]) == (a, 1, "live")
    assert canary["real_head"] == head_a and canary["seeded_head"] != head_a

    got: dict[UUID, Held] = {}
    for name in ("r1", "r2"):
        agent = proj.agent(REVIEWER, name)
        raw = verb(agent, "claim_next", agent=agent.id, roles=None)
        claim = Outcome.model_validate(raw)
        assert claim.ok and claim.task is not None and claim.epoch is not None, claim
        head = head_a if claim.task.id == a else head_b
        got[claim.task.id] = Held(agent, head, raw, claim)
    held_a, held_b = got[a], got[b]
    assert held_a.tip == canary["seeded_head"] and held_b.tip == head_b
    for h in (held_a, held_b):
        assert (h.task.stage, h.task.review_round, h.task.holder_family) == (
            "review", 1, REVIEWER
        )  # fmt: skip
    return held_a, held_b


# ---------------------------------------------------------------------------------------
# 1: every relation the family may read.


def readable(conn: Any) -> dict[str, list[tuple[str, str]]]:
    """Every relation of schema ainarres the connection's role may SELECT: its columns
    (name, type), in order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for r in rows(
        conn,
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = 'ainarres' AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
        "AND has_table_privilege(current_user, c.oid, 'SELECT') ORDER BY c.relname, a.attnum",
    ):
        found.setdefault(r["relname"], []).append((r["attname"], r["type"]))
    return found


def task_rows(conn: Any, relation: str, key: str, width: int, task: UUID) -> list[dict[str, Any]]:
    order = sql.SQL(", ").join(sql.Literal(i) for i in range(1, width + 1))
    query = sql.SQL("SELECT * FROM ainarres.{} WHERE {} = %s ORDER BY {}").format(
        sql.Identifier(relation), sql.Identifier(key), order
    )
    return list(conn.execute(query, (task,)).fetchall())


def assert_tables_alike(proj: Project, held_a: Held, held_b: Held) -> set[str]:
    """Row for row, every readable relation keyed by task has the same shape for A and B
    and the same values but for ids, object ids, times, titles and branches. Returns the
    relations compared."""
    conn = held_a.agent.conn
    compared = set()
    for relation, columns in readable(conn).items():
        names = [c for c, _ in columns]
        bad = [x for x in [relation, *names] if WORDS.search(x)]
        assert not bad, f"the reviewer family can read {relation} ({bad})"
        key = "id" if relation == "tasks" else "task_id"
        if key not in names:
            continue
        compared.add(relation)
        found_a = task_rows(conn, relation, key, len(names), held_a.task.id)
        found_b = task_rows(conn, relation, key, len(names), held_b.task.id)
        assert len(found_a) == len(found_b), f"{relation}: {len(found_a)} rows for A, " \
            f"{len(found_b)} for B"  # fmt: skip
        mask_a, mask_b = Masker(held_a), Masker(held_b)
        for i, (row_a, row_b) in enumerate(zip(found_a, found_b, strict=True)):
            where = f"{relation} row {i}"
            assert [row_a[c] is None for c in names] == [row_b[c] is None for c in names], (
                f"{where}: nulls differ: A {row_a}, B {row_b}"
            )
            for column, type_ in columns:
                if type_ in ("jsonb", "json"):
                    assert keys(row_a[column]) == keys(row_b[column]), f"{where}.{column}"
            assert mask_a(row_a) == mask_b(row_b), (
                f"{where} differs:\n  A: {mask_a(row_a)}\n  B: {mask_b(row_b)}"
            )
    return compared


def test_every_readable_relation_shows_the_two_rounds_alike(proj: Project) -> None:
    held_a, held_b = held(proj)
    compared = assert_tables_alike(proj, held_a, held_b)
    assert {"tasks", "events", "annotations", "reviews", "task_deps"} <= compared, compared

    conn = held_a.agent.conn
    [privileges] = rows(
        conn,
        "SELECT has_schema_privilege(current_user, 'ainarres_private', 'USAGE') AS usage, "
        "has_schema_privilege(current_user, 'ainarres_private', 'CREATE') AS create",
    )
    assert privileges == {"usage": False, "create": False}
    # Nothing readable or runnable elsewhere either (a view or a function in another
    # schema over the private one), but the system catalogues.
    elsewhere = rows(
        conn,
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('ainarres', 'pg_catalog', 'information_schema') "
        "AND has_schema_privilege(current_user, n.oid, 'USAGE') "
        "AND has_table_privilege(current_user, c.oid, 'SELECT')",
    )
    assert elsewhere == [], elsewhere
    named = rows(
        conn,
        "SELECT n.nspname, p.proname FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname ~* 'canary|seeded' "
        "AND has_function_privilege(current_user, p.oid, 'EXECUTE') "
        "AND has_schema_privilege(current_user, n.oid, 'USAGE')",
    )
    assert named == [], named
    runnable = rows(
        conn,
        "SELECT p.proname, p.prosrc FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'ainarres' AND has_function_privilege(current_user, p.oid, 'EXECUTE') "
        "ORDER BY 1",
    )
    assert len(runnable) > 10, runnable  # the verbs are there: the query sees something
    assert [r["proname"] for r in runnable if WORDS.search(r["proname"])] == []
    # Only the claim (which skips held rounds) and the two verdicts (which disclose a
    # canary once given, by design) consult the private record.
    consulting = {r["proname"] for r in runnable
                  if re.search(r"ainarres_private|_canary_", r["prosrc"])}  # fmt: skip
    assert consulting == {"claim_next", "advance", "return_task"}, consulting


# ---------------------------------------------------------------------------------------
# 2: the event log.


def test_the_event_logs_of_the_two_rounds_are_alike(proj: Project) -> None:
    held_a, held_b = held(proj)
    conn = held_a.agent.conn
    logs = []
    for h in (held_a, held_b):
        log = rows(
            conn,
            "SELECT kind, from_stage, to_stage, epoch, family_id, actor, data "
            "FROM ainarres.events WHERE task_id = %s ORDER BY id",
            h.task.id,
        )
        logs.append(log)
    log_a, log_b = logs
    assert [e["kind"] for e in log_a] == ["created", "claimed", "advanced", "claimed"]
    assert [(e["kind"], e["from_stage"], e["to_stage"], e["epoch"]) for e in log_a] == [
        (e["kind"], e["from_stage"], e["to_stage"], e["epoch"]) for e in log_b
    ]
    assert [keys(e["data"]) for e in log_a] == [keys(e["data"]) for e in log_b]
    same("the event log", log_a, log_b, held_a, held_b)
    # The CLI's read of it (`ainarres log`), newest first, as the family sees it.
    same(
        "reads.events",
        [e.model_dump() for e in reads.events(conn, held_a.task.id)],
        [e.model_dump() for e in reads.events(conn, held_b.task.id)],
        held_a,
        held_b,
    )


# ---------------------------------------------------------------------------------------
# 3: what the verbs and reads give the family.


def read_review(proj: Project, h: Held) -> review.Review:
    """What `ainarres review show` reads for the family: the diff, annotations, rounds."""
    task = reads.show_task(h.agent.conn, h.task.id)
    return review.load(proj.board.settings, h.agent.conn, task, REVIEWER, h.agent.name)


def test_every_verb_and_read_gives_the_two_rounds_alike(proj: Project) -> None:
    held_a, held_b = held(proj)
    same("the claim as returned", held_a.raw, held_b.raw, held_a, held_b)
    same("the claim's Outcome", held_a.claim.model_dump(), held_b.claim.model_dump(),
         held_a, held_b)  # fmt: skip

    beats = [
        verb(h.agent, "heartbeat", agent=h.agent.id, task=h.task.id, epoch=h.epoch)
        for h in (held_a, held_b)
    ]
    assert all(Outcome.model_validate(b).ok for b in beats), beats
    assert keys(beats[0]) == keys(beats[1])
    same("heartbeat", beats[0], beats[1], held_a, held_b)
    models = [h.agent.heartbeat(h.task.id, h.epoch).model_dump() for h in (held_a, held_b)]
    same("heartbeat's Outcome", models[0], models[1], held_a, held_b)

    conn = held_a.agent.conn
    functions = []
    for h in (held_a, held_b):
        [row] = rows(
            conn,
            "SELECT ainarres._task_json(t) AS task, ainarres._approved_commit(t.id) AS approved "
            "FROM ainarres.tasks t WHERE t.id = %s",
            h.task.id,
        )
        functions.append(row)
    same("_task_json and _approved_commit", functions[0], functions[1], held_a, held_b)
    same(
        "reads.show_task",
        reads.show_task(conn, held_a.task.id).model_dump(),
        reads.show_task(conn, held_b.task.id).model_dump(),
        held_a,
        held_b,
    )
    same(
        "reads.feedback",
        [f.model_dump() for f in reads.feedback(conn, held_a.task.id)],
        [f.model_dump() for f in reads.feedback(conn, held_b.task.id)],
        held_a,
        held_b,
    )

    loaded = [read_review(proj, h) for h in (held_a, held_b)]
    for h, r in zip((held_a, held_b), loaded, strict=True):
        assert r.diff.head == h.tip
        assert sorted((f.path, f.status) for f in r.diff.files) == sorted(
            [(FEATURE["module"], "added"), (FEATURE["test"], "added")]
        ), r.diff.files
    review_a, review_b = loaded
    assert [(f.path, f.old_path, f.status, f.binary) for f in review_a.diff.files] == [
        (f.path, f.old_path, f.status, f.binary) for f in review_b.diff.files
    ]
    assert review_a.diff.base == review_b.diff.base
    assert review_a.annotations == review_b.annotations == []
    assert review_a.rounds == review_b.rounds == []


# ---------------------------------------------------------------------------------------
# 4: the hub.


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def headers(repo: Path, commit: str) -> tuple[list[str], dict[str, str], str]:
    """A commit object's header names in order, its header lines by name (the last of a
    repeated one), and its message."""
    shown = run(repo, "cat-file", "commit", commit)
    assert shown.returncode == 0, shown.stderr
    head, _, message = shown.stdout.partition("\n\n")
    names, lines = [], {}
    for line in head.splitlines():
        name = "+" if line.startswith(" ") else line.split(" ", 1)[0]
        names.append(name)
        lines[name] = line
    return names, lines, message


def identity(line: str) -> tuple[str, str]:
    """`author Name <mail> 1700000000 +0000` without its time: (who, time zone)."""
    match = re.fullmatch(r"(?:author|committer) (.*) (\d+) ([+-]\d{4})", line)
    assert match is not None, line
    return match[1], match[3]


def test_the_hub_shows_the_two_rounds_alike(proj: Project, tmp_path: Path) -> None:
    held_a, held_b = held(proj)
    listed = [ln.split("\t") for ln in git(proj.hub, "ls-remote", str(proj.hub)).splitlines()]
    refs = {name: oid for oid, name in listed}
    main = refs["refs/heads/main"]
    allowed = {"HEAD", "refs/heads/main", NOTES_REF}
    others = [n for n in refs if n not in allowed and not n.startswith("refs/heads/task/")]
    assert others == [], refs
    assert refs.get("HEAD", main) == main
    branches = {n: o for n, o in refs.items() if n.startswith("refs/heads/task/")}
    assert branches == {f"refs/heads/{h.task.branch}": h.tip for h in (held_a, held_b)}

    # Everything the family can fetch by ref, as it would fetch it.
    seen = tmp_path / "seen.git"
    git(tmp_path, "clone", "--quiet", "--mirror", str(proj.hub), str(seen))
    shapes = []
    for h in (held_a, held_b):
        assert git(seen, "rev-list", "--count", f"{main}..{h.tip}") == "1"
        parents = git(seen, "rev-list", "--parents", "-n", "1", h.tip).split()[1:]
        assert parents == [git(seen, "merge-base", main, h.tip)], parents
        names, lines, message = headers(seen, h.tip)
        _, _, written = headers(proj.clone, h.implementer_head)  # what the implementer wrote
        assert message == written == f"Add {h.task.title}\n", (message, written)
        tree = git(seen, "ls-tree", "-r", "--format=%(objectmode) %(objecttype) %(path)", h.tip)
        shapes.append(([n for n in names if n != "tree"], lines, tree, parents))
    (names_a, lines_a, tree_a, parents_a), (names_b, lines_b, tree_b, parents_b) = shapes
    assert names_a == names_b == ["parent", "author", "committer"], (names_a, names_b)
    assert parents_a == parents_b
    for field in ("author", "committer"):
        assert identity(lines_a[field]) == identity(lines_b[field]), (lines_a, lines_b)
    assert tree_a == tree_b  # the same files with the same modes (contents are the review)

    for repo in (proj.hub, seen):
        checked = run(repo, "fsck", "--no-dangling")
        assert checked.returncode == 0 and checked.stdout == checked.stderr == "", checked
    if NOTES_REF in refs:
        for h in (held_a, held_b):
            assert run(seen, "notes", f"--ref={NOTES_REF}", "show", h.tip).returncode != 0


# ---------------------------------------------------------------------------------------
# 5: the review notes, after an annotation on each.


def test_annotations_and_their_notes_are_alike(proj: Project, tmp_path: Path) -> None:
    held_a, held_b = held(proj)
    remark = review.Remark(MODULE, 1, "new", "blocker", "this line is wrong")
    outcomes = []
    for h in (held_a, held_b):
        task = reads.show_task(h.agent.conn, h.task.id)  # as `ainarres review annotate` does
        done = review.annotate(proj.board.settings, h.agent, task, h.epoch, remark)
        assert done.outcome.ok and done.note_problem is None, done
        outcomes.append(done.outcome.model_dump())
    same("annotate's Outcome", outcomes[0], outcomes[1], held_a, held_b)

    seen = tmp_path / "seen.git"
    git(tmp_path, "clone", "--quiet", "--mirror", str(proj.hub), str(seen))
    listed = git(seen, "notes", f"--ref={NOTES_REF}", "list").splitlines()
    assert sorted(ln.split()[1] for ln in listed) == sorted([held_a.tip, held_b.tip]), listed
    texts = [git(seen, "notes", f"--ref={NOTES_REF}", "show", h.tip) for h in (held_a, held_b)]
    assert texts[0] == f"[round 1] {REVIEWER} annotate {held_a.task.short_id}: {remark.note}"
    same("the review note", texts[0].splitlines(), texts[1].splitlines(), held_a, held_b)
    # The notes commits: the same author and committer, one commit per note.
    log = git(seen, "log", "--format=%an <%ae> %cn <%ce> %s", NOTES_REF).splitlines()
    assert len(log) == 2 and log[0] == log[1], log

    assert "annotations" in assert_tables_alike(proj, held_a, held_b)
    loaded = [read_review(proj, h) for h in (held_a, held_b)]
    assert len(loaded[0].annotations) == len(loaded[1].annotations) == 1
    same(
        "the annotations the review read shows",
        [a.model_dump() for a in loaded[0].annotations],
        [a.model_dump() for a in loaded[1].annotations],
        held_a,
        held_b,
    )


# ---------------------------------------------------------------------------------------
# What a snapshot still tells today, kept as strict expected failures: each one passes, and
# so fails here, once production closes the hole it shows.


def test_a_verdict_tried_and_rolled_back_tells_nothing(proj: Project) -> None:
    held_a, held_b = held(proj)
    tried = []
    for h in (held_a, held_b):
        with h.agent.conn.transaction(force_rollback=True):
            out = verb(h.agent, "advance", agent=h.agent.id, task=h.task.id, epoch=h.epoch,
                       head_commit=h.tip)  # fmt: skip
            [row] = rows(
                h.agent.conn,
                "SELECT stage_id, head_commit, review_round FROM ainarres.tasks WHERE id = %s",
                h.task.id,
            )
        tried.append({"outcome": out, "task": row})
    # The try left nothing behind: the canary is live, both rounds held as they were.
    [canary] = canaries(proj)
    assert (canary["state"], canary["result"]) == ("live", None)
    for h in (held_a, held_b):
        task = reads.show_task(h.agent.conn, h.task.id)
        assert (task.stage, task.head_commit, task.holder_agent) == ("review", h.tip, h.agent.id)
    same("a verdict tried and rolled back", tried[0], tried[1], held_a, held_b)


def test_the_head_a_seeded_one_replaced_is_not_served(proj: Project, tmp_path: Path) -> None:
    """Fetched the way a family reaches a hub on a server (ssh, `hub serve` as the forced
    command), with protocol v2, whose upload-pack would serve any object asked for by id:
    the hub speaks v0 and serves only what a ref reaches. (A hub that is a local folder is
    no boundary: only ainarres's own processes on that machine read it.)"""
    held_a, held_b = held(proj)
    seen = tmp_path / "seen.git"
    git(tmp_path, "init", "--quiet", "--bare", str(seen))
    ssh = tmp_path / "ssh"  # plays sshd: the last argument is the command it was given
    ssh.write_text(f'#!/bin/sh\nfor a; do last="$a"; done\nSSH_ORIGINAL_COMMAND="$last" exec '
                   f"{sys.executable} -m ainarres hub serve {proj.hub}\n")  # fmt: skip
    ssh.chmod(0o755)
    served = []
    for h in (held_b, held_a):
        fetched = subprocess.run(
            ["git", "-c", "protocol.version=2", "fetch", "--quiet", f"ssh://hub.test{proj.hub}",
             h.implementer_head], cwd=seen, capture_output=True, text=True, check=False,
            env={**os.environ, "GIT_SSH_COMMAND": str(ssh), "GIT_SSH_VARIANT": "ssh"},
        )  # fmt: skip
        served.append(fetched.returncode == 0)
    assert served[0], "B's head is its branch's tip: served"
    assert not served[1], "A's own head, on no ref since the seeded head replaced it, is served"
