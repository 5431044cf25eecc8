"""``python -m ainarres``: the hub's hook shims and its ssh forced command land here,
everything else goes to the CLI.

Those two paths are dispatched before the CLI is imported, so a push does not pay for
click, rich or psycopg.
"""

from __future__ import annotations

import importlib
import os
import sys


def main() -> int:
    """Run the pre-receive hook when asked to, else the command-line interface."""
    if sys.argv[1:3] == ["hook", "pre-receive"]:
        from pathlib import Path

        from ainarres.gate.hook import run_pre_receive

        # git runs hooks from inside the bare hub with GIT_DIR set (usually ".").
        hub_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
        return run_pre_receive(sys.stdin, os.environ, hub_dir)
    if sys.argv[1:3] == ["hub", "serve"]:
        from ainarres.git.serve import main as serve

        # The forced command of the hub's ssh account: every connection pays this start.
        return serve(sys.argv[3:], os.environ)
    # Imported by name so this shim does not depend on the CLI's types (or existence)
    # while the hook path is checked.
    cli = importlib.import_module("ainarres.cli.main")
    result = cli.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
