"""Loads the named blocks of queries.sql once (the procrastinate habit: SQL stays SQL)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.S | re.M)


@cache
def queries() -> dict[str, str]:
    text = resources.files("ainarres.board").joinpath("queries.sql").read_text()
    return {name: body.strip() for name, body in _BLOCK.findall(text)}


def q(name: str) -> bytes:
    """The named query, as bytes: psycopg takes those as a ready query, not a string to build."""
    return queries()[name].encode()
