"""The tool adapters: the exact command line each builds per role, and the usage each reads
from a sample of its tool's output. tests/tools runs the real tools with these command lines,
in the sandbox under the runner, against a stand-in model API; the samples here are what
those runs printed, cut down."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ainarres.agents.adapters import get_adapter
from ainarres.agents.adapters.base import (
    Adapter,
    Invocation,
    Job,
    JobRole,
    Usage,
    parse_version,
)
from ainarres.agents.adapters.tools import ADAPTERS

WORKDIR = Path("/srv/ainarres/worktrees/t-7f3a")
JOB_DIR = Path("/srv/ainarres/jobs/t-7f3a-1")
# spaces, quotes, a newline and a leading dash: passed through untouched as one argument
PROMPT = '-- You are the implementer of "word stats".\nEdit files; see $AINARRES_JOB_DIR.'
ROLES: tuple[JobRole, ...] = ("designer", "implementer", "reviewer")
TIMEOUT = 900.0


def job(role: JobRole) -> Job:
    return Job(
        role=role,
        task_id="7f3a0c2e-0000-4000-8000-000000000001",
        short_id="7f3a",
        title="word stats",
        body="Count words per file.",
        workdir=WORKDIR,
        job_dir=JOB_DIR,
        prompt=PROMPT,
    )


def build(tool: str, model: str, role: JobRole) -> Invocation:
    return ADAPTERS[tool](model, timeout=TIMEOUT).build(job(role))


def protocol(role: JobRole) -> dict[str, str]:
    return {"AINARRES_JOB_DIR": str(JOB_DIR), "AINARRES_ROLE": role}


def assert_common(inv: Invocation, role: JobRole, extra_env: dict[str, str] | None = None) -> None:
    assert inv.cwd == WORKDIR
    assert dict(inv.env) == {**protocol(role), **(extra_env or {})}
    assert inv.timeout == TIMEOUT


QUIET_CLAUDE = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}


# --- claude-code ---------------------------------------------------------------------------

CLAUDE_HEAD = (
    "claude",
    "-p",
    PROMPT,
    "--model",
    "sonnet",
    "--output-format",
    "stream-json",
    "--verbose",
)
CLAUDE_READ_ONLY = (
    "--permission-mode",
    "dontAsk",
    "--allowedTools",
    "Read,Grep,Glob,Bash,Edit(//srv/ainarres/jobs/t-7f3a-1/**)",
)


@pytest.mark.parametrize(
    ("role", "permissions"),
    [
        ("designer", CLAUDE_READ_ONLY),
        ("implementer", ("--permission-mode", "bypassPermissions")),
        ("reviewer", CLAUDE_READ_ONLY),
    ],
)
def test_claude_code_argv(role: JobRole, permissions: tuple[str, ...]) -> None:
    inv = build("claude-code", "sonnet", role)
    assert inv.argv == (*CLAUDE_HEAD, *permissions, "--add-dir", str(JOB_DIR))
    assert inv.stdin is None
    assert_common(inv, role, QUIET_CLAUDE)
    # root in the sandbox needs the tool's own flag, which the runner sets there only
    assert "IS_SANDBOX" not in inv.env
    assert ADAPTERS["claude-code"].sandbox_env == {"IS_SANDBOX": "1"}


def test_claude_code_command_overrides_the_binary() -> None:
    adapter = ADAPTERS["claude-code"]("opus", command=["/opt/claude/bin/claude"])
    assert adapter.build(job("implementer")).argv[:2] == ("/opt/claude/bin/claude", "-p")


CLAUDE_RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "duration_ms": 48211,
    "duration_api_ms": 45102,
    "num_turns": 12,
    "result": "Done. Tokens: 1 sent, 1 received. total_cost_usd 999",
    "session_id": "5b2c1e0a-6d1f-4a57-9f55-0f4f2e1c9a11",
    "total_cost_usd": 0.1834,
    "usage": {
        "input_tokens": 34,
        "cache_creation_input_tokens": 12050,
        "cache_read_input_tokens": 88210,
        "output_tokens": 2417,
        "server_tool_use": {"web_search_requests": 0},
        "service_tier": "standard",
    },
}


def test_claude_code_usage_from_the_json_result() -> None:
    usage = ADAPTERS["claude-code"]("sonnet").usage(json.dumps(CLAUDE_RESULT), "")
    assert usage == Usage(input_tokens=34 + 12050 + 88210, output_tokens=2417, cost_usd=0.1834)


def test_claude_code_usage_sums_every_model_of_the_streamed_result() -> None:
    # the main loop's `usage` leaves out side calls (a title, another model's turns):
    # modelUsage and total_cost_usd count them all
    result = {
        **CLAUDE_RESULT,
        "usage": {"input_tokens": 2300, "output_tokens": 130},
        "modelUsage": {
            "claude-sonnet-4-5": {
                "inputTokens": 3300,
                "outputTokens": 180,
                "cacheReadInputTokens": 500,
                "cacheCreationInputTokens": 20,
                "costUSD": 0.0126,
            },
            "claude-haiku-4-5": {"inputTokens": 40, "outputTokens": 5, "costUSD": 0.0001},
        },
        "total_cost_usd": 0.0127,
    }
    stream = [
        {"type": "system", "subtype": "init", "session_id": "s"},
        {"type": "system", "subtype": "api_retry", "attempt": 1},
        {"type": "assistant", "message": {"usage": {"input_tokens": 5, "output_tokens": 5}}},
        result,
    ]
    stdout = "\n".join(json.dumps(e) for e in stream) + "\n"
    usage = ADAPTERS["claude-code"]("sonnet").usage(stdout, "")
    assert usage == Usage(input_tokens=3300 + 500 + 20 + 40, output_tokens=185, cost_usd=0.0127)


def test_claude_code_usage_from_a_verbose_message_list() -> None:
    messages = [
        {"type": "system", "subtype": "init", "session_id": "s"},
        {"type": "assistant", "message": {"usage": {"input_tokens": 5, "output_tokens": 5}}},
        CLAUDE_RESULT,
    ]
    usage = ADAPTERS["claude-code"]("sonnet").usage(json.dumps(messages), "")
    assert usage.output_tokens == 2417 and usage.cost_usd == 0.1834


# --- codex ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_codex_argv(role: JobRole) -> None:
    inv = build("codex", "gpt-5.1-codex", role)
    assert inv.argv == (
        "codex",
        "exec",
        "--model",
        "gpt-5.1-codex",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "--",
        PROMPT,
    )
    assert inv.stdin is None  # codex reads stdin to its end: the runner gives it /dev/null
    assert_common(inv, role)


CODEX_JSONL = "\n".join(
    json.dumps(e)
    for e in [
        {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
        {"type": "turn.started"},
        {
            "type": "item.completed",
            "item": {
                "id": "item_0",
                "type": "command_execution",
                "command": "bash -lc 'pytest -q'",
                "aggregated_output": '{"type": "turn.completed", "usage": {"input_tokens": 9}}\n',
                "exit_code": 0,
                "status": "completed",
            },
        },
        {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": "ok"}},
        {
            "type": "turn.completed",
            "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122},
        },
    ]
)


def test_codex_usage_from_turn_completed() -> None:
    usage = ADAPTERS["codex"]("gpt-5.1-codex").usage(CODEX_JSONL, "Reading prompt from stdin...")
    assert usage == Usage(input_tokens=24763, output_tokens=122, cost_usd=None)


# --- gemini-cli ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_gemini_cli_argv(role: JobRole) -> None:
    inv = build("gemini-cli", "gemini-2.5-pro", role)
    assert inv.argv == (
        "gemini",
        "--model",
        "gemini-2.5-pro",
        "--approval-mode",
        "yolo",
        "--output-format",
        "stream-json",
        "--include-directories",
        str(JOB_DIR),
        "--prompt",
        PROMPT,
    )
    assert inv.stdin is None
    assert_common(inv, role, {"GEMINI_CLI_TRUST_WORKSPACE": "true"})


GEMINI_JSON = {
    "response": "I added word counting.",
    "stats": {
        "models": {
            "gemini-2.5-pro": {
                "api": {"totalRequests": 2, "totalErrors": 0, "totalLatencyMs": 5053},
                "tokens": {
                    "prompt": 24939,
                    "candidates": 20,
                    "total": 25113,
                    "cached": 21263,
                    "thoughts": 154,
                    "tool": 0,
                },
            },
            "gemini-2.5-flash": {
                "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 1879},
                "tokens": {
                    "prompt": 8965,
                    "candidates": 10,
                    "total": 9033,
                    "cached": 0,
                    "thoughts": 30,
                    "tool": 28,
                },
            },
        },
        "tools": {"totalCalls": 1, "totalSuccess": 1, "totalFail": 0, "totalDurationMs": 1881},
        "files": {"totalLinesAdded": 12, "totalLinesRemoved": 0},
    },
}


def test_gemini_cli_usage_from_the_streamed_result() -> None:
    events = [
        {"type": "init", "session_id": "s", "model": "gemini-2.5-pro"},
        {"type": "tool_use", "tool_name": "write_file", "parameters": {"file_path": "a"}},
        {
            "type": "result",
            "status": "success",
            "stats": {
                "total_tokens": 2210,
                "input_tokens": 2100,
                "output_tokens": 110,
                "models": {
                    "gemini-2.5-pro": {"input_tokens": 2000, "output_tokens": 100},
                    "gemini-2.5-flash": {"input_tokens": 100, "output_tokens": 10},
                },
            },
        },
    ]
    stdout = "\n".join(json.dumps(e) for e in events) + "\n"
    usage = ADAPTERS["gemini-cli"]("gemini-2.5-pro").usage(stdout, "")
    assert usage == Usage(input_tokens=2100, output_tokens=110)


def test_gemini_cli_usage_from_stats() -> None:
    # the CLI pretty-prints the object; a warning line before it must not matter
    stdout = "Loaded cached credentials.\n" + json.dumps(GEMINI_JSON, indent=2) + "\n"
    usage = ADAPTERS["gemini-cli"]("gemini-2.5-pro").usage(stdout, "")
    assert usage == Usage(input_tokens=24939 + 8965, output_tokens=20 + 154 + 10 + 30)


# --- opencode ------------------------------------------------------------------------------


def opencode_permissions(inv: Invocation) -> object:
    return json.loads(inv.env["OPENCODE_PERMISSION"])


@pytest.mark.parametrize("role", ROLES)
def test_opencode_argv(role: JobRole) -> None:
    inv = build("opencode", "anthropic/claude-sonnet-4-5", role)
    assert inv.argv == (
        "opencode",
        "run",
        "--model",
        "anthropic/claude-sonnet-4-5",
        "--format",
        "json",
        "--title",
        f"ainarres {role} 7f3a",
        "--print-logs",
        "--log-level",
        "WARN",
    )
    assert inv.stdin == PROMPT
    job_files = f"{JOB_DIR}/**"
    if role == "implementer":
        expected: object = {"*": "allow"}
    else:
        expected = {
            "*": "allow",
            "edit": {"*": "deny", job_files: "allow"},
            "external_directory": {"*": "deny", job_files: "allow"},
        }
    assert opencode_permissions(inv) == expected
    assert_common(inv, role, {"OPENCODE_PERMISSION": inv.env["OPENCODE_PERMISSION"]})


def opencode_step(cost: float, inp: int, out: int, reasoning: int, read: int, write: int) -> str:
    part = {
        "id": "prt_a1",
        "sessionID": "ses_1",
        "messageID": "msg_1",
        "type": "step-finish",
        "reason": "tool-calls",
        "cost": cost,
        "tokens": {
            "input": inp,
            "output": out,
            "reasoning": reasoning,
            "cache": {"read": read, "write": write},
        },
    }
    return json.dumps(
        {"type": "step_finish", "timestamp": 1767000000000, "sessionID": "ses_1", "part": part}
    )


def test_opencode_usage_sums_the_steps() -> None:
    text = {
        "type": "text",
        "timestamp": 1,
        "sessionID": "ses_1",
        "part": {"type": "text", "text": "hi"},
    }
    stdout = "\n".join(
        [
            json.dumps({"type": "step_start", "timestamp": 1, "sessionID": "ses_1", "part": {}}),
            json.dumps(text),
            opencode_step(0.0125, 1200, 300, 50, 8000, 2000),
            opencode_step(0.0075, 400, 120, 0, 10000, 0),
            "not json",
        ]
    )
    usage = ADAPTERS["opencode"]("anthropic/claude-sonnet-4-5").usage(stdout, "")
    assert usage.input_tokens == 1200 + 8000 + 2000 + 400 + 10000
    assert usage.output_tokens == 300 + 50 + 120
    assert usage.cost_usd == pytest.approx(0.02)


# --- grok ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_grok_argv(role: JobRole) -> None:
    inv = build("grok", "grok-code-fast-1", role)
    assert inv.argv == ("grok", "--model", "grok-code-fast-1", "--prompt", PROMPT)
    assert inv.stdin is None
    assert_common(inv, role)


# `grok --help` of the CLI the adapter drives (@vibe-kit/grok-cli 0.0.34), cut down
GROK_HELP = """\
Usage: grok [options] [command] [message...]
  -V, --version               output the version number
  -d, --directory <dir>       set working directory
  -k, --api-key <key>         Grok API key (or set GROK_API_KEY env var)
  -u, --base-url <url>        Grok API base URL (or set GROK_BASE_URL env var)
  -m, --model <model>         AI model to use
  -p, --prompt <prompt>       process a single prompt and exit (headless mode)
  --max-tool-rounds <rounds>  maximum number of tool execution rounds (default: 400)
"""
GROK_DEV_HELP = GROK_HELP + "  --format <format>  output format for headless mode (text, json)\n"
GROK_BUILD_HELP = """\
Usage: grok [OPTIONS] [PROMPT]
  -p, --single <PROMPT>       Run a single prompt and exit
      --output-format <FMT>   text, json, stream-json
      --always-approve        Approve every tool call
"""


def test_grok_tells_its_cli_from_the_others_called_grok() -> None:
    adapter = ADAPTERS["grok"]("grok-code-fast-1")
    assert adapter.identify(GROK_HELP) is None
    assert "grok-dev" in (adapter.identify(GROK_DEV_HELP) or "")
    assert "Grok Build" in (adapter.identify(GROK_BUILD_HELP) or "")
    assert "not that of @vibe-kit/grok-cli" in (adapter.identify("Usage: grok\n") or "")


def test_grok_reports_no_usage() -> None:
    # headless, it prints the conversation as OpenAI-style messages, without token counts
    messages = [
        {"role": "user", "content": "You are the implementer of task 7f3a"},
        {
            "role": "assistant",
            "content": "Using tools to help you...",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "create_file", "arguments": '{"path": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Updated a"},
        {"role": "assistant", "content": "Done."},
    ]
    stdout = "\n".join(json.dumps(m) for m in messages)
    assert ADAPTERS["grok"]("grok-code-fast-1").usage(stdout, "") == Usage()


# --- aider ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_aider_argv(role: JobRole) -> None:
    inv = build("aider", "sonnet", role)
    assert inv.argv == (
        "aider",
        "--model",
        "sonnet",
        "--message",
        PROMPT,
        "--yes-always",
        "--no-auto-commits",
        "--no-dirty-commits",
        "--no-stream",
        "--no-pretty",
        "--no-gitignore",
        "--input-history-file",
        str(JOB_DIR / "aider.input.history"),
        "--chat-history-file",
        str(JOB_DIR / "aider.chat.history.md"),
        "--no-check-update",
        "--no-show-release-notes",
        "--analytics-disable",
    )
    assert inv.stdin is None
    identity = {k: v for k, v in inv.env.items() if k.startswith("GIT_CONFIG_")}
    assert identity["GIT_CONFIG_COUNT"] == "2"  # aider must not write the read-only git config
    assert_common(inv, role, {"LITELLM_LOCAL_MODEL_COST_MAP": "True", **identity})


AIDER_STDOUT = """\
Aider v0.86.1
Main model: anthropic/claude-sonnet-4-20250514 with diff edit format, infinite output
Weak model: anthropic/claude-3-5-haiku-20241022
Git repo: .git with 42 files
Repo-map: using 4096 tokens, auto refresh

The task quotes an old report: Tokens: 1 sent, 1 received. Cost: $99.00 message, $99.00 session.

wordstats.py
<<<<<<< SEARCH
=======
def count_words(text):
    return len(text.split())
>>>>>>> REPLACE

Tokens: 2.4k sent, 1.1k cache write, 215 received. Cost: $0.0125 message, $0.0125 session.
Applied edit to wordstats.py
Tokens: 12k sent, 9.8k cache hit, 96 received. Cost: $0.0082 message, $0.02
session.
"""


def test_aider_usage_sums_the_calls_and_takes_the_session_cost() -> None:
    usage = ADAPTERS["aider"]("sonnet").usage(AIDER_STDOUT, "")
    assert usage.input_tokens == 2400 + 12000
    assert usage.output_tokens == 215 + 96
    assert usage.cost_usd == pytest.approx(0.02)


def test_aider_usage_without_a_price() -> None:
    usage = ADAPTERS["aider"]("ollama_chat/qwen3").usage("Tokens: 812 sent, 40 received.\n", "")
    assert usage == Usage(input_tokens=812, output_tokens=40, cost_usd=None)


# --- all tools -----------------------------------------------------------------------------

ODD_OUTPUTS = [
    "",
    "\x00\xff garbage",
    "{",
    "[1, 2",
    "null",
    "[]",
    '"a string"',
    "[" * 100_000,
    '{"type": "result", "usage": "none", "total_cost_usd": "free"}',
    '{"type": "turn.completed", "usage": {"input_tokens": -3, "output_tokens": true}}',
    '{"type": "step_finish", "part": null, "usage": [1]}',
    '{"stats": {"models": {"m": {"tokens": {"prompt": "many"}}}}}',
    '{"stats": {"models": []}}',
    "Tokens: lots sent, none received.",
    '{"type": "step_finish", "part": {"cost": NaN, "tokens": {"input": 1e400}}}',
]


@pytest.mark.parametrize("tool", sorted(ADAPTERS))
@pytest.mark.parametrize("output", ODD_OUTPUTS)
def test_usage_never_raises_on_odd_output(tool: str, output: str) -> None:
    usage = ADAPTERS[tool]("m").usage(output, output)
    assert isinstance(usage, Usage)
    for value in (usage.input_tokens, usage.output_tokens, usage.cost_usd):
        assert value is None or value >= 0


EXPECTED_KEYS = {
    "claude-code": {"ANTHROPIC_API_KEY"},
    "codex": {"OPENAI_API_KEY", "CODEX_API_KEY"},
    "gemini-cli": {"GEMINI_API_KEY", "GOOGLE_API_KEY"},
    "opencode": {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"},
    "grok": {"GROK_API_KEY"},
    "aider": {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"},
}


def test_every_adapter_is_a_real_tool_that_passes_its_keys_through() -> None:
    assert set(ADAPTERS) == set(EXPECTED_KEYS)
    for name, cls in ADAPTERS.items():
        assert issubclass(cls, Adapter) and cls.name == name
        assert get_adapter(name) is cls
        adapter = cls("m")
        assert adapter.real_tool is True
        assert EXPECTED_KEYS[name] <= set(cls.passthrough_env)
        assert all(k and k == k.upper() for k in cls.passthrough_env)
        # no key is ever written into the invocation itself
        inv = adapter.build(job("implementer"))
        assert not set(inv.env) & set(cls.passthrough_env)


# --- what the runner and the preflight ask of an adapter --------------------------------------

IDLE = {
    "claude-code": '{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10}',
    "codex": '{"type":"error","message":"Reconnecting... 2/5 (stream disconnected)"}',
    "opencode": (
        'timestamp=2026-11-29T20:55:02Z level=ERROR run=a7 message="stream error" '
        'providerID=standin error.error="AI_APICallError: Cannot connect to API"'
    ),
    "aider": "litellm.APIConnectionError: Connection refused. Retrying in 0.5 seconds...",
}
BUSY = {
    "claude-code": '{"type":"assistant","message":{"content":[{"type":"tool_use"}]}}',
    "codex": '{"type":"item.completed","item":{"type":"command_execution"}}',
    "opencode": '{"type":"step_finish","part":{"tokens":{"input":1}}}',
    "aider": "Applied edit to STANDIN.md",
}


@pytest.mark.parametrize("tool", sorted(IDLE))
def test_retries_while_the_model_is_away_are_no_progress(tool: str) -> None:
    adapter = ADAPTERS[tool]("m")
    assert adapter.is_progress(IDLE[tool]) is False
    assert adapter.is_progress(BUSY[tool]) is True


def test_only_grok_prints_nothing_until_it_is_done() -> None:
    assert [n for n, cls in ADAPTERS.items() if not cls.prints_progress] == ["grok"]


@pytest.mark.parametrize(
    ("tool", "model", "env", "expected"),
    [
        ("claude-code", "sonnet", {}, ("api.anthropic.com", 443)),
        ("claude-code", "sonnet", {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8123"},
         ("127.0.0.1", 8123)),
        ("gemini-cli", "gemini-2.5-pro", {}, ("generativelanguage.googleapis.com", 443)),
        ("grok", "grok-code-fast-1", {"GROK_BASE_URL": "http://localhost:9/v1"},
         ("localhost", 9)),
        ("opencode", "anthropic/claude-sonnet-4-5", {}, ("api.anthropic.com", 443)),
        ("opencode", "mine/m1", {}, None),
        ("opencode", "mine/m1", {"OPENCODE_CONFIG_CONTENT": json.dumps(
            {"provider": {"mine": {"options": {"baseURL": "http://10.1.2.3:4000/v1"}}}})},
         ("10.1.2.3", 4000)),
        ("aider", "openai/gpt-4o-mini", {"OPENAI_API_BASE": "https://llm.example:8443/v1"},
         ("llm.example", 8443)),
        ("aider", "sonnet", {}, None),
        ("codex", "gpt-5", {}, ("api.openai.com", 443)),
    ],
)  # fmt: skip
def test_where_each_tool_calls_its_model(
    tool: str, model: str, env: dict[str, str], expected: tuple[str, int] | None
) -> None:
    assert ADAPTERS[tool](model).endpoint(env, None) == expected


def test_codex_reads_its_provider_from_the_tool_home(tmp_path: Path) -> None:
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text(
        'model_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:5/v1"\n'
    )
    assert ADAPTERS["codex"]("gpt-5").endpoint({}, tmp_path) == ("127.0.0.1", 5)
    (tmp_path / ".codex" / "config.toml").write_text("not = [toml")
    assert ADAPTERS["codex"]("gpt-5").endpoint({}, tmp_path) == ("api.openai.com", 443)


def test_every_tool_says_how_to_install_it_and_which_versions_it_drives() -> None:
    for name, cls in ADAPTERS.items():
        assert cls.binary and cls.install, name
        if cls.versions is not None:
            low, high = cls.versions
            assert low < high, name
    assert ADAPTERS["grok"].versions is None  # its --version says 1.0.1 whatever it is


def test_version_numbers_are_read_from_what_the_tools_print() -> None:
    assert parse_version("2.1.197 (Claude Code)") == (2, 1, 197)
    assert parse_version("codex-cli 0.171.0") == (0, 171, 0)
    assert parse_version("aider 0.86.2\n") == (0, 86, 2)
    assert parse_version("v20.20") == (20, 20)
    assert parse_version("no version here") is None


RELAY = ("/venv/bin/python3", "-m", "ainarres.agents.mcp_relay", str(JOB_DIR))


def with_mcp(role: JobRole) -> Job:
    return dataclasses.replace(job(role), mcp=RELAY)


@pytest.mark.parametrize("role", ["implementer", "reviewer"])
def test_claude_code_is_given_the_claims_mcp_server(role: JobRole) -> None:
    inv = ADAPTERS["claude-code"]("sonnet").build(with_mcp(role))
    [config] = [a.removeprefix("--mcp-config=") for a in inv.argv if a.startswith("--mcp-")]
    server = {"command": RELAY[0], "args": list(RELAY[1:])}
    assert json.loads(config) == {"mcpServers": {"ainarres": server}}
    allowed = inv.argv[inv.argv.index("--allowedTools") + 1] if role == "reviewer" else ""
    assert ("mcp__ainarres" in allowed.split(",")) == (role == "reviewer")  # dontAsk allows it
    assert inv.argv[inv.argv.index("-p") + 1] == PROMPT  # still the prompt, not a config


def test_codex_is_given_the_claims_mcp_server_for_the_run_only() -> None:
    argv = ADAPTERS["codex"]("gpt-5-codex").build(with_mcp("reviewer")).argv
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert overrides == [f'mcp_servers.ainarres.command="{RELAY[0]}"',
                         f"mcp_servers.ainarres.args={json.dumps(list(RELAY[1:]))}"]  # fmt: skip
    assert argv.index("-c") < argv.index("--")  # options, before the prompt


@pytest.mark.parametrize(("tool", "variable", "name"), [
    ("gemini-cli", "GEMINI_CLI_SYSTEM_SETTINGS_PATH", "gemini-settings.json"),
    ("opencode", "OPENCODE_CONFIG", "opencode-mcp.json"),
])  # fmt: skip
def test_settings_file_tools_get_the_claims_mcp_server_in_a_job_file(
    tool: str, variable: str, name: str
) -> None:
    inv = ADAPTERS[tool]("m").build(with_mcp("implementer"))
    assert inv.env[variable] == str(JOB_DIR / name) and list(inv.files) == [name]
    config = json.loads(inv.files[name])
    if tool == "gemini-cli":
        server = config["mcpServers"]["ainarres"]
        assert (server["command"], server["args"], server["trust"]) == (RELAY[0], list(RELAY[1:]),
                                                                        True)  # fmt: skip
    else:
        assert config["mcp"]["ainarres"] == {"type": "local", "command": list(RELAY),
                                             "enabled": True}  # fmt: skip


@pytest.mark.parametrize("tool", sorted(ADAPTERS))
def test_without_an_mcp_server_no_tool_is_told_of_one(tool: str) -> None:
    model = "openai/gpt-4o-mini" if tool == "aider" else "m"
    adapter = ADAPTERS[tool](model)
    plain = adapter.build(job("reviewer"))
    assert not plain.files and "ainarres.agents.mcp_relay" not in " ".join(plain.argv)
    assert not any("MCP" in k or k == "OPENCODE_CONFIG" for k in plain.env)
    wired = adapter.build(with_mcp("reviewer"))
    shown = " ".join([*wired.argv, *wired.files.values()])
    assert ("ainarres.agents.mcp_relay" in shown) == adapter.speaks_mcp
