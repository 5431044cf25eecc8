"""One error base for everything a user can act on.

Exit codes (documented in README.md):
  0 ok, 1 refused (an outcome other than ok: empty, lease_lost, not_allowed, ...),
  2 bad usage or bad input, 3 unexpected error, 4 the database is unreachable or unset up.
"""

from __future__ import annotations

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_UNAVAILABLE = 4


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
