"""The MCP server a sandboxed tool starts: `python -m ainarres.agents.mcp_relay [JOB_DIR]`.

It copies its stdin to the claim's endpoint and the endpoint's answers to its stdout,
through the FIFOs the runner made in the job folder (JOB_DIR/mcp; without the argument,
$AINARRES_JOB_DIR: the adapters name the folder, since a tool may start its MCP servers
with only a few variables of its own environment). It holds no
credential and talks to nothing else: the runner, outside the sandbox, does the verbs.
Imports nothing beyond the standard library, so it starts fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path

FOLDER = "mcp"  # as agents/claim_mcp.py names them
TO_BOARD = "to-board"
FROM_BOARD = "from-board"


def _pump(source: int, sink: int) -> None:
    while True:
        chunk = os.read(source, 65536)
        if not chunk:
            return
        os.write(sink, chunk)


def main(argv: list[str]) -> int:
    job = argv[0] if argv else os.environ.get("AINARRES_JOB_DIR")
    if not job or len(argv) > 1:
        print("usage: python -m ainarres.agents.mcp_relay [JOB_DIR] (or AINARRES_JOB_DIR, "
              "which the runner sets for the tool it starts)", file=sys.stderr)  # fmt: skip
        return 2
    folder = Path(job) / FOLDER
    try:
        # Opening a FIFO waits for the other end: the runner holds both while the claim
        # lives; once it is over they are gone, and this says so instead of waiting.
        to_board = os.open(folder / TO_BOARD, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(to_board, True)
        from_board = os.open(folder / FROM_BOARD, os.O_RDONLY)
    except OSError as exc:
        print(f"ainarres mcp relay: no endpoint for this claim ({exc.strerror}: {folder}); "
              "the claim is over or the runner serves none", file=sys.stderr)  # fmt: skip
        return 1

    def upward() -> None:
        with contextlib.suppress(OSError):
            _pump(0, to_board)
        os._exit(0)  # the client closed its end: this relay's part is over

    threading.Thread(target=upward, daemon=True).start()
    try:
        _pump(from_board, 1)
    except (BrokenPipeError, OSError):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
