"""A real agent process for the concurrency test: claim and advance until the queue is empty.

Usage: claim_worker.py STATE_DIR DATABASE_URL FAMILY AGENT_NAME
Prints the ids it advanced, one per line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ainarres.board.db import family_conninfo, open_connection
from ainarres.board.verbs import Agent
from ainarres.config import Settings


def main() -> int:
    state_dir, url, family, name = sys.argv[1:5]
    settings = Settings(Path(state_dir), url)
    with open_connection(family_conninfo(settings, family)) as conn:
        agent = Agent.start(conn, name)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.readline()  # start together
        while True:
            out = agent.claim_next()
            if out.outcome == "empty":
                return 0
            assert out.ok and out.task is not None and out.epoch is not None, out
            done = agent.advance(out.task.id, out.epoch)
            assert done.ok, done
            sys.stdout.write(f"{out.task.id}\n")


if __name__ == "__main__":
    sys.exit(main())
