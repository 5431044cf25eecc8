"""Each adapter, proven against its real tool: the exact command line the adapter builds,
run by real `ainarres agent run` processes in the real bubblewrap sandbox, with the
family's tool home as HOME, against a stand-in model API on 127.0.0.1 (`standin.py`) that
makes the tool write STANDIN.md through its own tools (implementer) and its verdict into
$AINARRES_JOB_DIR/result.json (reviewer). The task has to move through the board as with a
real model, and the usage the board records has to be what the stand-in sent.

The API's base URL and key reach the tool the way a person's do: through the family's
`env` passthrough, and, for tools that read their API from a settings file, through the
family's tool home (seeded here as a person would, `ainarres agent login --where`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, MAIN, REVIEWER, Project, git
from standin import FILE_NAME, FILE_TEXT, MCP_ANNOTATION, MCP_NOTE, MCP_REASON, StandIn
from toolbox import TOOLS_DIR, events, require, run_agent, stage, write_config

from ainarres.agents import sandbox, toolhome
from ainarres.board import reads
from ainarres.store import family_name

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox.unavailable_reason() is not None,
        reason=f"no sandbox here: {sandbox.unavailable_reason()}",
    ),
]

KEY = "sk-standin-not-a-real-key"


def _codex_home(home: Path, url: str) -> None:
    # codex reads no base-URL variable: a custom provider in its config (a custom one also
    # skips the WebSocket transport the built-in provider tries first)
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    (home / ".codex" / "config.toml").write_text(
        'model_provider = "standin"\n'
        "[model_providers.standin]\n"
        'name = "stand-in"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
    )


def _gemini_home(home: Path, url: str) -> None:
    # with GOOGLE_GEMINI_BASE_URL set, a headless run needs the auth chosen in settings
    del url
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))


OPENCODE_PRICE = (2.0, 8.0)  # $ per million input, output tokens, as the config says


def _opencode_home(home: Path, url: str) -> None:
    provider = {
        "npm": "@ai-sdk/openai-compatible",
        "name": "stand-in",
        "options": {"baseURL": f"{url}/v1", "apiKey": "{env:OPENAI_API_KEY}"},
        "models": {
            "m1": {"name": "m1", "cost": {"input": OPENCODE_PRICE[0], "output": OPENCODE_PRICE[1]}}
        },
    }
    (home / ".config" / "opencode").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "opencode" / "opencode.json").write_text(
        json.dumps({"provider": {"standin": provider}})
    )


@dataclass(frozen=True)
class Tool:
    adapter: str
    binary: str
    package: str
    model: str
    env: Callable[[str], dict[str, str]]  # the stand-in's URL -> the family's variables
    seed: Callable[[Path, str], None] | None = None  # a tool home, as a person would
    reviews: bool = True
    calls_tools: bool = True  # aider edits from a file listing in the model's reply
    reports_usage: bool = True
    # the adapter wires the claim's MCP server into the tool (Adapter.speaks_mcp): its
    # implementer notes and its reviewer approves through MCP, not the shell
    mcp: bool = True
    # the tool's own price for the stand-in's tokens (input, output) -> dollars
    cost: Callable[[int, int], float] | None = None


TOOLS = [
    Tool(
        "claude-code",
        "claude",
        "@anthropic-ai/claude-code",
        "claude-sonnet-4-5",
        lambda url: {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": KEY},
        cost=lambda i, o: (i * 3 + o * 15) / 1e6,  # its price list: $3 and $15 per million
    ),
    Tool(
        "codex",
        "codex",
        "@openai/codex",
        "gpt-5-codex",
        lambda url: {"OPENAI_API_KEY": KEY},
        seed=_codex_home,
    ),
    Tool(
        "gemini-cli",
        "gemini",
        "@google/gemini-cli",
        "gemini-2.5-pro",
        lambda url: {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": url},
        seed=_gemini_home,
    ),
    Tool(
        "opencode",
        "opencode",
        "opencode-ai",
        "standin/m1",
        # no models.dev fetch and no npm download at run time, in tests
        lambda url: {
            "OPENAI_API_KEY": KEY,
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "npm_config_offline": "true",
        },
        seed=_opencode_home,
        cost=lambda i, o: (i * OPENCODE_PRICE[0] + o * OPENCODE_PRICE[1]) / 1e6,
    ),
    Tool(
        "grok",
        "grok",
        "@vibe-kit/grok-cli",
        "grok-code-fast-1",
        lambda url: {"GROK_API_KEY": KEY, "GROK_BASE_URL": f"{url}/v1"},
        reports_usage=False,  # headless, it prints no token counts
        mcp=False,  # its MCP servers live in the worktree's .grok/settings.json only
    ),
    Tool(
        "aider",
        "aider",
        "aider-chat",
        "openai/gpt-4o-mini",
        lambda url: {"OPENAI_API_KEY": KEY, "OPENAI_API_BASE": f"{url}/v1"},
        reviews=False,  # it edits the repository only; kept to the implementer role
        calls_tools=False,
        mcp=False,
        cost=lambda i, o: (i * 0.15 + o * 0.6) / 1e6,  # litellm's price of gpt-4o-mini
    ),
]


def _families(tool: Tool, url: str) -> dict[str, dict[str, object]]:
    common = {
        "adapter": tool.adapter,
        "model": tool.model,
        "env": sorted(tool.env(url)),
        "read_only_paths": [str(TOOLS_DIR)],
        "timeout": 180,
        "silence_timeout": 90,
    }
    fams: dict[str, dict[str, object]] = {IMPLEMENTER: {**common, "roles": ["implementer"]}}
    if tool.reviews:
        fams[REVIEWER] = {**common, "roles": ["reviewer"]}
    return fams


def _usage(proj: Project, task: object, family: str) -> dict[str, object]:
    [used] = [e["data"] for e in events(proj, task, "usage") if e["family"] == family]
    return dict(used)


def _check_usage(tool: Tool, used: dict[str, object], sent: tuple[int, int], out: str) -> None:
    print(f"{tool.adapter}: the board recorded {used}; the stand-in sent {sent}")
    if not tool.reports_usage:
        assert "tokens" not in used and "cost_usd" not in used, used
        return
    assert used.get("tokens") == sum(sent), (used, sent, out)
    if tool.cost is not None:
        assert float(str(used["cost_usd"])) == pytest.approx(tool.cost(*sent), rel=0.05), used
    else:
        assert "cost_usd" not in used, used


@pytest.mark.parametrize("tool", TOOLS, ids=[t.adapter for t in TOOLS])
def test_the_real_tool_takes_a_task_through_the_board(
    tool: Tool, proj: Project, tmp_path: Path
) -> None:
    require(tool.binary, tool.package)
    api = StandIn().start()
    try:
        variables = tool.env(api.base_url)
        cfg = write_config(tmp_path, _families(tool, api.base_url))
        for family in (IMPLEMENTER, REVIEWER):
            home = toolhome.ensure(proj.board.settings, family)
            if tool.seed is not None:
                tool.seed(home, api.base_url)
        task = must(proj.agent(DESIGNER).create_task(f"add {FILE_NAME}").task)

        done = run_agent(proj, cfg, IMPLEMENTER, env=variables)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "preflight: " in out and ": ok: " in out, out
        assert stage(proj, task.id) == "review", out
        text = git(proj.hub, "show", f"refs/heads/{task.branch}:{FILE_NAME}")
        assert text.strip() == FILE_TEXT.strip()
        changed = git(proj.hub, "diff", "--name-only", MAIN, f"refs/heads/{task.branch}")
        assert changed.split() == [FILE_NAME], "the tool's own files were committed"
        implemented = api.usage()
        _check_usage(tool, _usage(proj, task.id, IMPLEMENTER), implemented, out)
        called = [s.action for s in api.sent if s.action != "text"]
        assert bool(called) == tool.calls_tools, called
        print(f"{tool.adapter}: tools offered: {sorted(api.offered)}")
        notes = [e["data"] for e in events(proj, task.id, "note") if e["family"] == IMPLEMENTER]
        assert (MCP_NOTE in str(notes)) == tool.mcp, (notes, called, sorted(api.offered), out)

        if not tool.reviews:
            return
        done = run_agent(proj, cfg, REVIEWER, env=variables)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert stage(proj, task.id) == "integrate", out
        reviewed = api.usage()
        sent = (reviewed[0] - implemented[0], reviewed[1] - implemented[1])
        _check_usage(tool, _usage(proj, task.id, REVIEWER), sent, out)
        [approval] = events(proj, task.id, "advanced")[-1:]
        assert approval["family"] == REVIEWER
        # the approval's reason is in the review note on the hub, on the reviewed head
        head = git(proj.hub, "rev-parse", f"refs/heads/{task.branch}")
        note = git(proj.hub, "notes", "--ref=refs/notes/ainarres/review", "show", head)
        assert (MCP_REASON in note) == tool.mcp, (note, out)
        with proj.board.operator() as conn:
            marks = [(a.file, a.body) for a in reads.annotations_of(conn, task.id)
                     if a.family == REVIEWER]  # fmt: skip
        assert ((FILE_NAME, MCP_ANNOTATION["body"]) in marks) == tool.mcp, (marks, out)
        jobs_root = proj.board.settings.state_dir / "jobs" / family_name(REVIEWER)
        result_files = list(jobs_root.rglob("result.json"))
        assert (not result_files) == tool.mcp, result_files
    finally:
        api.stop()
