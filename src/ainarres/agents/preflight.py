"""Before a family works: can its tool run here, in the sandbox, as the runner will run it?

`ainarres agent check --family F` prints this; `agent run` and `swarm` run it at start and
refuse to take a task when something is wrong, saying what: the tool is not installed, or
hidden from the sandbox (under /tmp or a home); its version is not one the adapter drives,
or it is another tool of the same name; no API key and no login; its model API cannot be
reached from the sandbox; root without the sandbox flag its tool needs.

The tool itself runs twice at most (`--version`, and `--help` where the adapter tells its
tool apart that way), in the sandbox with the family's tool home and environment; the
network check is a TCP connection to the model API from inside the sandbox. No model is
called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ainarres.agents import sandbox, toolhome
from ainarres.agents.adapters import get_adapter
from ainarres.agents.adapters.base import Adapter, parse_version, show_version
from ainarres.agents.config import FamilyConfig
from ainarres.config import Settings
from ainarres.text import clip

#: how long the tool's --version or --help may take (a cold Node start on a slow disk)
RUN_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0
_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError as exc:
    print(exc.strerror or exc or type(exc).__name__)
    sys.exit(1)
"""


@dataclass
class Report:
    """What the preflight found: facts for the person, and the problems (each one line
    that says what to do). No problem: the family can work."""

    family: str
    adapter: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"{self.family} ({self.adapter}): ok: " + "; ".join(self.facts)
        return f"{self.family} ({self.adapter}): " + "; ".join(self.problems)


def tool_env(adapter: Adapter, cfg: FamilyConfig, sandboxed: bool, home: Path,
             extra: Mapping[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """The tool's environment, as the runner builds it (with `extra`, the job's own): HOME
    is the family's tool home (bound at TOOL_HOME in the sandbox); the adapter's
    sandbox-only variables only in the sandbox."""
    passthrough = (*adapter.passthrough_env, *cfg.env)
    own = {**(adapter.sandbox_env if sandboxed else {}), **(extra or {})}
    return sandbox.tool_env(passthrough, own,
                            home=sandbox.TOOL_HOME if sandboxed else str(home))  # fmt: skip


def check(settings: Settings, family: str, cfg: FamilyConfig, *, sandboxed: bool) -> Report:
    """Check the family's tool: see the module docstring."""
    adapter = get_adapter(cfg.adapter)(cfg.model, cfg.timeout, cfg.command)
    report = Report(family, cfg.adapter)
    home = toolhome.ensure(settings, family)
    env = tool_env(adapter, cfg, sandboxed, home)
    with tempfile.TemporaryDirectory(prefix="ainarres-check-") as scratch:
        mounts = sandbox.Mounts(writable=(Path(scratch),), readable=cfg.read_only_paths,
                                home_dir=home, network=True)  # fmt: skip
        run = _Runner(mounts, Path(scratch), env, sandboxed)
        found = _locate(adapter, cfg, family, env, mounts, sandboxed, report)
        if found is None or not adapter.real_tool:
            return report
        _version(adapter, family, run, report)
        _key(adapter, family, env, home, report)
        if "implementer" in cfg.roles:  # only the implementer skips its permission prompts
            _root(adapter, family, env, sandboxed, report)
        _network(adapter, family, env, home, run, sandboxed, report)
    return report


class _Runner:
    """Runs a command as the tool runs: in the sandbox, or (unsandboxed) as is."""

    def __init__(self, mounts: sandbox.Mounts, cwd: Path, env: dict[str, str],
                 sandboxed: bool) -> None:  # fmt: skip
        self.mounts, self.cwd, self.env, self.sandboxed = mounts, cwd, env, sandboxed

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        """(exit code, stdout and stderr) of `argv`; -1 if it could not start or hung."""
        outer = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if self.sandboxed else self.env
        full = sandbox.wrap(argv, self.mounts, self.cwd, self.env) if self.sandboxed else argv
        try:
            done = subprocess.run(full, cwd=self.cwd, env=outer, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace",
                                  timeout=RUN_TIMEOUT, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return -1, f"no answer in {RUN_TIMEOUT:.0f} s"
        except OSError as exc:
            return -1, str(exc.strerror)
        return done.returncode, (done.stdout + "\n" + done.stderr).strip()


def _locate(adapter: Adapter, cfg: FamilyConfig, family: str, env: Mapping[str, str],
            mounts: sandbox.Mounts, sandboxed: bool, report: Report) -> Path | None:  # fmt: skip
    program = adapter.program
    found = shutil.which(program, path=env.get("PATH"))
    if found is None:
        how = adapter.install or f"set families.{family}.command in ainarres.toml"
        report.problems.append(f"the {cfg.adapter} tool {program!r} is not installed (not on "
                               f"PATH): install it: {how}")  # fmt: skip
        return None
    path = Path(found)
    report.facts.append(f"{program} is {path.resolve()}")
    if not sandboxed:
        return path
    hidden = [p for p in (path, _interpreter(path, env)) if p and not sandbox.visible(p, mounts)]
    for where in hidden:
        report.problems.append(
            f"{where.resolve()} ({'the tool' if where == path else 'its interpreter'}) is "
            f"hidden from the sandbox{_why_hidden(where)}: install it system-wide (e.g. "
            f"under /usr or /opt) and list a folder outside /usr in "
            f"families.{family}.read_only_paths in ainarres.toml"
        )
    return None if hidden else path


def _interpreter(path: Path, env: Mapping[str, str]) -> Path | None:
    """The program a script's `#!` line runs (`/usr/bin/env node`: node on PATH)."""
    try:
        with open(path, "rb") as f:
            head = f.readline(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].decode(errors="replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env":
        names = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(names[0], path=env.get("PATH")) if names else None
        return Path(found) if found else None
    return Path(words[0])


def _why_hidden(path: Path) -> str:
    real = path.resolve()
    if real.is_relative_to(Path(tempfile.gettempdir()).resolve()) or real.is_relative_to("/tmp"):
        return " (it lives under /tmp, which the sandbox replaces with its own)"
    if real.is_relative_to(toolhome.person_home().resolve()):
        return " (it lives under your home, which the sandbox does not show)"
    return ""


def _version(adapter: Adapter, family: str, run: _Runner, report: Report) -> None:
    program = adapter.program
    code, out = run([program, "--version"])
    where = "in the sandbox" if run.sandboxed else "here"
    if code != 0:
        last = clip(out.splitlines()[-1] if out else "no output", 300)
        report.problems.append(f"`{program} --version` failed {where} (exit {code}): {last}")
        return
    version = parse_version(out)
    if adapter.versions is not None:
        low, high = adapter.versions
        if version is None:
            said = clip(out, 200)
            report.problems.append(
                f"`{program} --version` printed no version: {said!r}; install it: {adapter.install}"
            )
            return
        if not low <= version < high:
            report.problems.append(
                f"{program} {show_version(version)} is not a version ainarres drives "
                f"({show_version(low)} up to, not including, {show_version(high)}): "
                f"install it: {adapter.install}"
            )
            return
    report.facts.append(f"version {show_version(version) if version else clip(out, 60)}")
    if type(adapter).identify is not Adapter.identify:
        code, text = run([program, "--help"])
        wrong = adapter.identify(text) if code == 0 else f"`{program} --help` failed: {text}"
        if wrong is not None:
            report.problems.append(
                f"the installed {program} is not the tool the {adapter.name} adapter drives: "
                f"{wrong}; install it: {adapter.install}, or point families.{family}.command "
                "at it"
            )


def _key(adapter: Adapter, family: str, env: Mapping[str, str], home: Path,
         report: Report) -> None:  # fmt: skip
    if not adapter.key_env:
        return
    keys = [k for k in adapter.key_env if env.get(k)]
    login = toolhome.logged_in(home, adapter)
    if keys:
        report.facts.append(f"key from {keys[0]}")
    elif login is not None:
        report.facts.append(f"logged in ({login} in its tool home)")
    else:
        login_cmd = (f", or log the tool in: ainarres agent login --family {family}"
                     if adapter.login_args is not None else "")  # fmt: skip
        report.problems.append(
            f"no API key: set one of {', '.join(adapter.key_env)} in the runner's "
            f"environment (another variable: list it in families.{family}.env){login_cmd}"
        )


def _root(adapter: Adapter, family: str, env: Mapping[str, str], sandboxed: bool,
          report: Report) -> None:  # fmt: skip
    if sandboxed or not adapter.sandbox_env or os.geteuid() != 0:
        return
    flags = [k for k in adapter.sandbox_env if not env.get(k)]
    if flags:
        report.problems.append(
            f"{adapter.name} refuses to run unattended as root outside a sandbox: run the "
            "agent in ainarres's sandbox (without --no-sandbox) or as another user; if this "
            f"machine is itself a sandbox, set {', '.join(flags)} and list it in "
            f"families.{family}.env"
        )


def _network(adapter: Adapter, family: str, env: Mapping[str, str], home: Path,
             run: _Runner, sandboxed: bool, report: Report) -> None:  # fmt: skip
    endpoint = adapter.endpoint(env, home)
    if endpoint is None:
        return
    host, port = endpoint
    code, out = run([sys.executable, "-c", _PROBE, host, str(port), str(CONNECT_TIMEOUT)])
    if code == 0:
        report.facts.append(f"reaches {host}:{port}")
        return
    overrides = ""
    if adapter.api_url_env:
        passed = all(k in adapter.passthrough_env for k in adapter.api_url_env)
        how = "" if passed else f", passed when listed in families.{family}.env"
        overrides = f" ({', '.join(adapter.api_url_env)}{how})"
    report.problems.append(
        f"no network to the model API {host}:{port} from "
        f"{'the sandbox' if sandboxed else 'here'} ({clip(out or 'no answer', 200)}): check "
        f"the network or proxy, or the API's base URL{overrides}"
    )
