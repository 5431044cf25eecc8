"""Watching the board's shape for a live view: LISTEN on the board's channel, and look again
at least every few seconds, since the board only NOTIFYs while an agent waits (ADR 0006)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator

import psycopg

from ainarres.board import reads
from ainarres.board.db import open_connection, translate
from ainarres.board.verbs import CHANNEL


def shape(snap: reads.BoardSnapshot) -> str:
    """A fingerprint of what the live board shows, ages left out (they change every second):
    stage counts, who holds which task at which step, what is blocked, who integrates."""
    data = [
        [[s.stage, s.tasks, s.held, s.blocked] for s in snap.stages],
        [[str(a.id), a.stage, a.label, a.family, a.agent, a.epoch] for a in snap.active],
        [[str(b.id), b.stage, b.blocked_reason] for b in snap.blocked],
        snap.integrators,
    ]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def board_shapes(info: dict[str, str], stop: threading.Event, every: float = 5.0) -> Iterator[str]:
    """Yield the board's shape now, then each time it changes: woken by a NOTIFY on the
    board's channel, or found by the look taken every `every` seconds. Ends when `stop` is set
    (within `every` seconds). One dedicated connection, closed when the iteration ends."""
    conn = open_connection(info)
    try:
        conn.execute(f"LISTEN {CHANNEL}".encode())
        last = None
        while not stop.is_set():
            now = shape(reads.board(conn))
            if now != last:
                last = now
                yield now
            for _ in conn.notifies(timeout=every, stop_after=1):
                pass
    except psycopg.Error as exc:
        raise translate(exc, conn, "watching the board") from None
    finally:
        conn.close()
