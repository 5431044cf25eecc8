"""`init` and `db start|stop|status|migrate`."""

from __future__ import annotations

import click

from ainarres.board.embedded import EmbeddedServer
from ainarres.cli.context import JSON_OPTION, Ctx, new_passphrase, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.credentials import (
    OPERATOR_PASSPHRASE_ENV,
    ensure_private_dir,
    operator_file,
    read_credential,
    seal_credential,
)
from ainarres.errors import AinarresError, BadInput


def _migrate(ctx: Ctx) -> list[str]:
    from ainarres.board import migrate as migrations
    from ainarres.board.db import open_connection, operator_conninfo

    with open_connection(operator_conninfo(ctx.settings)) as conn:
        return [m.name for m in migrations.migrate(conn)]


@click.command()
@click.option(
    "--passphrase",
    is_flag=True,
    help="Seal the operator's database password under "
    "a passphrase (asked on the terminal, or $AINARRES_OPERATOR_PASSPHRASE_FILE).",
)
@pass_ctx
def init(ctx: Ctx, passphrase: bool) -> None:
    """Create the state directory and the database, and apply the migrations.

    With no database URL, this starts the embedded PostgreSQL under the state
    directory (scram-sha-256 passwords, unix socket only) and keeps it running.
    """
    ensure_private_dir(ctx.settings.state_dir)
    # Inside a project's git checkout, nothing of the state directory (credentials!) may
    # ever be committed: a .gitignore of `*` makes git ignore all of it, itself included.
    ignore = ctx.settings.state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# ainarres's state: credentials, the board, caches. Never commit.\n*\n")
    if ctx.settings.embedded:
        EmbeddedServer(ctx.settings.state_dir).ensure_running()
    applied = _migrate(ctx)
    if passphrase:
        if not ctx.settings.embedded:
            raise BadInput(
                "--passphrase seals the embedded operator credential; an external "
                "database's password is in AINARRES_DATABASE_URL or ~/.pgpass"
            )
        path = operator_file(ctx.settings.state_dir)
        cred = read_credential(path, "the operator")
        seal_credential(path, cred, new_passphrase(OPERATOR_PASSPHRASE_ENV, "Operator passphrase"))
        click.echo(f"the operator's password in {path} is now sealed under your passphrase")
    where = "embedded PostgreSQL" if ctx.settings.embedded else "external PostgreSQL"
    click.echo(
        f"board ready in {ctx.settings.state_dir} ({where}); "
        f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}"
    )


@click.group()
def db() -> None:
    """The database: start, stop, status, migrate."""


def _embedded(ctx: Ctx) -> EmbeddedServer:
    if not ctx.settings.embedded:
        raise AinarresError(
            "the board uses an external database (AINARRES_DATABASE_URL); "
            "start and stop it with its own tools"
        )
    return EmbeddedServer(ctx.settings.state_dir)


@db.command()
@pass_ctx
def start(ctx: Ctx) -> None:
    """Start the embedded server of a board made by `ainarres init`."""
    from ainarres.board.db import set_up_server

    server = set_up_server(ctx.settings) if ctx.settings.embedded else _embedded(ctx)
    server.ensure_running()
    click.echo(f"embedded PostgreSQL running (pid {server.status().pid}) at {server.socket_dir}")


@db.command()
@pass_ctx
def stop(ctx: Ctx) -> None:
    """Stop the embedded server; commands start it again on demand."""
    stopped = _embedded(ctx).stop()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db.command()
@JSON_OPTION
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Whether the database is up, and which migrations it has (never starts it)."""
    from ainarres.board import migrate as migrations
    from ainarres.board.db import open_connection, operator_conninfo

    st = EmbeddedServer(ctx.settings.state_dir).status() if ctx.settings.embedded else None
    applied: list[str] | None = None
    pending: list[str] | None = None
    if st is None or st.running:
        with open_connection(operator_conninfo(ctx.settings)) as conn:
            pending = [m.name for m in migrations.pending(conn)]
            applied = [name for name, _ in migrations.applied(conn).values()]
    if as_json:
        info: dict[str, object] = {
            "embedded": st is not None,
            "migrations": applied,
            "pending": pending,
        }
        if st is not None:
            info.update(
                initialized=st.initialized,
                running=st.running,
                pid=st.pid,
                data_dir=str(st.data_dir),
                socket_dir=str(st.socket_dir),
            )
        emit_json(info)
        return
    if st is None:
        click.echo("external PostgreSQL (AINARRES_DATABASE_URL)")
    else:
        state = f"running (pid {st.pid})" if st.running else "stopped"
        click.echo(f"embedded PostgreSQL: {state}; data {st.data_dir}")
    if applied is not None:
        click.echo(
            f"migrations applied: {len(applied)}"
            + (f"; pending: {', '.join(pending)}" if pending else "")
        )


@db.command()
@pass_ctx
def migrate(ctx: Ctx) -> None:
    """Apply pending migrations, each in one transaction.

    One `db migrate` at a time (through a lock no family can take); a migration waits at
    most 5 s for a lock, then names the session that holds it.
    """
    applied = _migrate(ctx)
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


COMMANDS = [init, db]
