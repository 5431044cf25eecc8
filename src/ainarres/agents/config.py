"""`ainarres.toml`'s `[families.NAME]` tables: which tool drives each family, validated.

Config says what a family asks to do; only a person grants roles on the board, so nothing
here can give a family a permission. The integrator is never an agent: a config that
lists it is refused.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ainarres.agents.adapters import ADAPTERS
from ainarres.errors import BadInput
from ainarres.roles import AgentRole

CONFIG_FILE = "ainarres.toml"


class FamilyConfig(BaseModel):
    """One family: its tool (adapter), model, the roles it asks for, how many instances."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapter: str
    model: str = Field(min_length=1, max_length=128)
    # who makes the model (anthropic, xai, ...); the board's default for the tool and model
    # when left out (see `ainarres family add --maker`)
    maker: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,31}$")
    roles: tuple[AgentRole, ...] = Field(min_length=1)
    instances: int = Field(default=1, ge=1, le=32)
    timeout: float = Field(default=1800.0, gt=0, le=86400)
    # a tool that shows no progress this long (prints nothing, or only retries while its
    # model API is away) is stopped and its task released with the reason
    silence_timeout: float = Field(default=600.0, gt=0, le=86400)
    command: tuple[str, ...] = ()  # the script adapter's command
    # the script adapter's command speaks MCP: the runner serves it the claim's endpoint
    # (the other adapters say so themselves)
    mcp: bool = False
    env: tuple[str, ...] = ()  # extra environment variables to pass to the tool
    # folders the sandbox shows read-only besides the system (a tool installed elsewhere)
    read_only_paths: tuple[Path, ...] = ()

    @field_validator("read_only_paths")
    @classmethod
    def _absolute(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        for path in value:
            if not path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{path} must be an absolute path without ..")
        return value

    @model_validator(mode="after")
    def _mcp_for_scripts(self) -> FamilyConfig:
        if self.mcp and self.adapter != "script":
            raise ValueError("mcp = true is for the script adapter: the others say themselves "
                             "whether their tool speaks MCP")  # fmt: skip
        return self

    @field_validator("adapter")
    @classmethod
    def _known_adapter(cls, value: str) -> str:
        if value not in ADAPTERS:
            raise ValueError(f"unknown adapter {value!r}; known: {', '.join(sorted(ADAPTERS))}")
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _no_integrator(cls, value: object) -> object:
        if isinstance(value, list | tuple) and "integrator" in value:
            raise ValueError(
                "a family cannot ask for the integrator role: the integrator is "
                "`ainarres integrate`, started by a person, never an agent"
            )
        return value


class ProjectConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    families: dict[str, FamilyConfig] = Field(default_factory=dict)


def parse(text: str, where: str = CONFIG_FILE) -> ProjectConfig:
    """Validate a config text; every problem is reported with the key it is about."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where} is not valid TOML: {exc}") from None
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise BadInput(f"{where}: {problems}") from None
    for name, fam in config.families.items():
        if fam.adapter == "script" and not fam.command:
            raise BadInput(f"{where}: families.{name}.command: the script adapter needs a command")
    return config


def load(path: Path) -> ProjectConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"no {path}: declare the families in [families.NAME] tables there") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text; save it as UTF-8") from None
    return parse(text, str(path))
