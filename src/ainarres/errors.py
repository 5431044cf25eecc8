"""One error base for everything a user can act on, and the one table of exit codes
(the CLI's --help epilog and README.md are made from, or checked against, EXIT_CODES)."""

from __future__ import annotations

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_UNAVAILABLE = 4
EXIT_EMPTY = 5

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "ok"),
    (EXIT_REFUSED, "refused: `lease_lost`, `not_allowed`, `illegal_transition`, `not_found`, "
                   "`blocked`, or a refused push"),
    (EXIT_USAGE, "bad input or usage (one line on stderr says what and what to do)"),
    (EXIT_UNEXPECTED, "unexpected error (`-v` shows the traceback)"),
    (EXIT_UNAVAILABLE, "the board is unreachable or not set up"),
    (EXIT_EMPTY, "nothing to claim (`next`)"),
)  # fmt: skip
# A verb's outcome as an exit code; any outcome not listed is a refusal.
OUTCOME_EXIT = {"ok": 0, "empty": EXIT_EMPTY, "invalid": EXIT_USAGE}


class AinarresError(Exception):
    """An error with a message that says what went wrong and what to do instead."""

    exit_code: int = EXIT_REFUSED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(AinarresError):
    """The caller gave a value that cannot be used; nothing was changed."""

    exit_code = EXIT_USAGE


class Unavailable(AinarresError):
    """The board cannot be reached, or is not set up yet."""

    exit_code = EXIT_UNAVAILABLE


class BoardLost(Unavailable):
    """The connection to the board failed or broke: worth waiting for and trying again
    (unlike a board that is not set up)."""
