"""ainarres.toml's families: validated, with a clear message for each mistake."""

from __future__ import annotations

import pytest

from ainarres.agents.config import parse
from ainarres.errors import BadInput

GOOD = """
[checks]
test = "true"

[families."claude-code+opus"]
adapter = "claude-code"
model = "opus"
roles = ["designer", "reviewer"]

[families."opencode+qwen"]
adapter = "script"
model = "qwen"
roles = ["implementer"]
instances = 2
command = ["python", "-m", "ainarres.agents.scripted"]
"""


def test_config_good_file_parses_with_defaults() -> None:
    cfg = parse(GOOD)
    assert set(cfg.families) == {"claude-code+opus", "opencode+qwen"}
    opus = cfg.families["claude-code+opus"]
    assert (opus.adapter, opus.roles, opus.instances, opus.timeout) == (
        "claude-code",
        ("designer", "reviewer"),
        1,
        1800.0,
    )
    assert cfg.families["opencode+qwen"].command == ("python", "-m", "ainarres.agents.scripted")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[families.x]\nadapter = "cursor"\nmodel = "m"\nroles = ["implementer"]',
            "families.x.adapter: unknown adapter 'cursor'; known: aider, claude-code, codex, "
            "gemini-cli, grok, opencode, script",
        ),
        (
            '[families.x]\nadapter = "codex"\nroles = ["implementer"]',
            "families.x.model: Field required",
        ),
        ('[families.x]\nadapter = "codex"\nmodel = "m"', "families.x.roles: Field required"),
        (
            '[families.x]\nadapter = "grok"\nmodel = "m"\nroles = ["reviewer"]\nmcp = true',
            "mcp = true is for the script adapter",
        ),
        (
            '[families.x]\nadapter = "codex"\nmodel = "m"\nroles = ["reviewer", "integrator"]',
            "families.x.roles: a family cannot ask for the integrator role: the integrator is "
            "`ainarres integrate`, started by a person, never an agent",
        ),
        (
            '[families.x]\nadapter = "codex"\nmodel = "m"\nroles = ["overlord"]',
            "families.x.roles.0",
        ),
        (
            '[families.x]\nadapter = "script"\nmodel = "m"\nroles = ["implementer"]',
            "families.x.command: the script adapter needs a command",
        ),
        (
            '[families.x]\nadapter = "codex"\nmodel = "m"\nroles = ["implementer"]\ninstances = 0',
            "families.x.instances: Input should be greater than or equal to 1",
        ),
        (
            '[families.x]\nadapter = "codex"\nmodel = "m"\nroles = ["implementer"]\ngrants = ["x"]',
            "families.x.grants: Extra inputs are not permitted",
        ),
        ("[families.x\n", "ainarres.toml is not valid TOML"),
    ],
)
def test_config_mistakes_are_refused_with_the_key(text: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse(text)
    assert message in err.value.message


def test_config_refusal_through_the_cli_is_one_line(tmp_path: object, board: object) -> None:
    from pathlib import Path

    from boardenv import BoardEnv

    assert isinstance(board, BoardEnv) and isinstance(tmp_path, Path)
    cfg = tmp_path / "ainarres.toml"
    cfg.write_text(
        '[families."opencode+qwen"]\nadapter = "script"\nmodel = "m"\n'
        'roles = ["integrator"]\ncommand = ["true"]\n'
    )
    res = board.run("agent", "run", "--family", "opencode+qwen", "--config", str(cfg))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot ask for the integrator role" in lines[0]
