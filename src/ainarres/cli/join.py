"""`join FILE`: set up this machine's state directory from a bundle (`family export`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.config import DATABASE_URL_ENV
from ainarres.git._run import one_line


@click.command("join")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Replace this family's credential, key and CA file, the hub record and "
    "the hub's host keys when they are here already.",
)
@JSON_OPTION
@pass_ctx
def join(ctx: Ctx, file: str, force: bool, as_json: bool) -> None:
    """Set up this machine to run the family of bundle FILE (made by `ainarres family
    export`): its credential with the board's address (and CA file), its signing key, the
    hub. All of FILE is checked before anything is written; a sealed one asks for its
    passphrase (or reads the file named by $AINARRES_BUNDLE_PASSPHRASE_FILE). Then it logs
    in as the family: a board it cannot reach exits 4, and the joined files stay.
    """
    from ainarres import bundle

    ask = None
    if sys.stdin.isatty():

        def ask(label: str) -> str:
            return str(click.prompt(label, hide_input=True, err=True))

    opened = bundle.open_bundle(Path(file), ask)
    joined = bundle.join(ctx.settings, opened, force)
    failed = bundle.try_login(ctx.settings, joined)
    url = joined.database_url
    if as_json:
        emit_json(
            {
                "family": joined.family,
                "state_dir": str(joined.state_dir),
                "files": [str(p) for p in joined.files],
                "hub": joined.hub,
                "database_url": url,
                "key_fingerprint": joined.fingerprint,
                "key_protected": joined.key_protected,
                "login": "ok" if failed is None else one_line(failed.message, 2000),
            }
        )
    else:
        click.echo(
            f"joined family {joined.family} in {joined.state_dir}: its credential, its key "
            f"({joined.fingerprint}{', passphrase-protected' if joined.key_protected else ''}) "
            f"and the hub {joined.hub}; commands with this state directory reach the board "
            "as that family. Delete the bundle file now."
        )
    other = os.environ.get(DATABASE_URL_ENV)
    if other and other != url:
        click.echo(
            f"ainarres: warning: {DATABASE_URL_ENV} is set to another address; commands "
            "use it, not the joined board's",
            err=True,
        )
    if failed is not None:
        click.echo(
            f"ainarres: error: joined, but cannot log in as {joined.family}: "
            f"{one_line(failed.message, 2000)}. The joined files stay in {joined.state_dir}; "
            "check the network, the server's pg_hba.conf and TLS, then try "
            f"`ainarres board --family {joined.family}`",
            err=True,
        )
        sys.exit(failed.exit_code)
    if not as_json:
        click.echo(f"logged in to the board as {joined.family}: it works")


COMMANDS = [join]
