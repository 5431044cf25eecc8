"""The processes ainarres starts and watches: stopping a whole group, whether one lives, and
the failpoints tests kill ainarres's own processes at."""

from __future__ import annotations

import contextlib
import os
import signal


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to every process in the group ``pgid`` (a child started with
    ``start_new_session=True`` leads its own); a group that is gone already is no error.

    A tool's or a check's shell starts children (test runners, servers) in its group;
    signalling the shell alone would leave them running, holding the checkout.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


FAILPOINT_ENV = "AINARRES_FAILPOINT"  # tests: crash on purpose at a named point


def failpoint(name: str) -> None:
    """Tests kill this process at a named point: SIGKILL, so nothing gets to clean up (the
    runner, integrate and the canary service name theirs)."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
