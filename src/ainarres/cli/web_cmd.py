"""`web`: the local web board."""

from __future__ import annotations

import click

from ainarres.cli.context import Ctx, pass_ctx


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
    help="Port to listen on (0: any free port).",
)  # fmt: skip
@click.option(
    "--allow-actions", is_flag=True,
    help="Offer a person's actions (unblock a task, lift a denial); without it every POST "
    "is refused.",
)  # fmt: skip
@click.option(
    "--check-every", type=click.FloatRange(min=0.2), default=5.0, show_default=True,
    hidden=True, help="Seconds between looks at the board when no NOTIFY comes.",
)  # fmt: skip
@pass_ctx
def web(ctx: Ctx, host: str, port: int, allow_actions: bool, check_every: float) -> None:
    """The local web board: the live board, tasks with their diffs and annotations, the
    report, governance; behind a token.

    Prints one line, the URL with the token (kept 0600 in the state directory's web/token),
    and serves until Ctrl-C."""
    from ainarres.web.server import serve

    serve(ctx.settings, host, port, allow_actions, lambda line: click.echo(line), check_every)


COMMANDS = [web]
