"""Helpers the tool adapters share: the job protocol's env additions, and JSON reading that
never raises, since a tool's output may be cut short, mixed with warnings, or not JSON at all."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

from ainarres.agents.adapters.base import Job


def protocol_env(job: Job) -> dict[str, str]:
    """The variables every tool gets, as the script adapter sets them."""
    return {"AINARRES_JOB_DIR": str(job.job_dir), "AINARRES_ROLE": job.role}


#: the name of the claim's MCP server in every tool's configuration
MCP_SERVER = "ainarres"


def mcp_servers(job: Job) -> dict[str, Any]:
    """{"ainarres": {"command", "args"}}: the claim's MCP server in the `mcpServers` shape
    most tools read, or {} when the job has none."""
    if not job.mcp:
        return {}
    return {MCP_SERVER: {"command": job.mcp[0], "args": list(job.mcp[1:])}}


def loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """Each line of JSONL output that is a JSON object; anything else is skipped."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            value = loads(line)
            if isinstance(value, dict):
                yield value


def last_json_value(text: str) -> Any:
    """The JSON document a tool printed last: the whole output if it parses, else the longest
    tail that starts at a line beginning with `{` or `[` (a pretty-printed object after some
    noise), else None. Later documents win, so an echoed prompt earlier on cannot."""
    whole = loads(text.strip())
    if whole is not None:
        return whole
    lines = text.splitlines(keepends=True)
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith(("{", "[")):
            value = loads("".join(lines[start:]).strip())
            if value is not None:
                return value
    return None


def field(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None wherever something is missing or not an object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def count(value: Any) -> int | None:
    """A token count as the tool printed it, or None if it is not a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def amount(value: Any) -> float | None:
    """A cost in dollars, or None if it is not a finite non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) and result >= 0 else None


def total_count(values: Iterable[int | None]) -> int | None:
    """The sum of the counts that are known, or None if none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def total_amount(values: Iterable[float | None]) -> float | None:
    """The sum of the amounts that are known, or None if none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None
