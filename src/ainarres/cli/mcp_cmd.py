"""`ainarres mcp`: the board's verbs for an agent tool that speaks MCP."""

from __future__ import annotations

import click

from ainarres.cli.context import AGENT_OPTION, FAMILY_OPTION, Ctx, pass_ctx


@click.command("mcp")
@FAMILY_OPTION
@AGENT_OPTION
@pass_ctx
def mcp(ctx: Ctx, family: str | None, agent_name: str | None) -> None:
    """Serve the board's verbs over MCP (stdio) as FAMILY's agent, for an agent tool.

    \b
    Tools: next, push, done, heartbeat, note, release, block, review_show, annotate,
    approve, return_task, task, board, report. Each calls the service the CLI calls, with
    the family's own credential; a refusal is a tool error that starts with the board's
    outcome. Configuration for Claude Code, Codex, Gemini CLI and opencode:
    .agents/design/mcp.md.
    """
    import socket

    from ainarres.cli.context import acting_as
    from ainarres.mcp_server import serve

    family, name = acting_as(family, agent_name or f"mcp@{socket.gethostname()}")
    serve(ctx.settings, family, name)


COMMANDS = [mcp]
