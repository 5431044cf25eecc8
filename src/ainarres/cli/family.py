"""`family add|list|show`, `grant`, `deny`, `lift`: the person wires who may do what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from ainarres import bundle, project
from ainarres.board import admin, reads
from ainarres.cli.context import JSON_OPTION, Ctx, new_passphrase, pass_ctx
from ainarres.cli.render import emit_json, finish, safe
from ainarres.errors import BadInput
from ainarres.git.keys import SigningKey, is_protected
from ainarres.store import family_name

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def expiry(duration: str | None) -> datetime | None:
    """'90m', '2h', '7d' from now; None means no expiry."""
    if duration is None:
        return None
    match = _DURATION.match(duration.strip())
    if not match:
        raise BadInput(f"duration {duration!r}: use a number and a unit s, m, h or d (e.g. 2h)")
    amount, unit = int(match.group(1)), match.group(2)
    return datetime.now(UTC) + timedelta(**{_UNITS[unit]: amount})


@click.group()
def family() -> None:
    """Families: tool+model pairs, each with its own database role."""


@family.command("add")
@click.argument("name")
@click.option("--tool", required=True, help="The agent tool, e.g. claude-code, codex, grok.")
@click.option("--model", required=True, help="The model, e.g. sonnet, grok-build.")
@click.option(
    "--maker",
    help="Who makes the model (anthropic, xai, openai, google, alibaba, ...); default: known "
    "from the tool (claude-code, grok, codex, gemini-cli) or the model (qwen, sonnet, gpt, ...).",
)
@click.option(
    "--passphrase",
    is_flag=True,
    help="Protect its signing key with a passphrase (required for an integrator): asked on "
    "the terminal, or with no terminal read from the 0600 file named by "
    "$AINARRES_PASSPHRASE_FILE.",
)
@JSON_OPTION
@pass_ctx
def family_add(
    ctx: Ctx, name: str, tool: str, model: str, maker: str | None, passphrase: bool, as_json: bool
) -> None:
    """Add family NAME (e.g. claude-code+sonnet) with its own role and 0600 credential.

    A new family holds no role: give it one with `ainarres grant`. Its maker decides who
    may review its work (a reviewer of another maker, by default); a person's family
    (--tool person) is maker person, and only such a family may integrate.
    """
    # Asked before anything is written: a refused passphrase leaves no half-made family.
    secret = None
    if passphrase:
        secret = new_passphrase(project.PASSPHRASE_FILE_ENV, "New passphrase")
    with ctx.operator() as conn:
        out = admin.add_family(conn, ctx.settings, name, tool, model, maker)
    if out.ok:
        _signer_step(ctx, name, project.ensure_family_key(ctx.settings, name, secret))
    finish(out, as_json)


def _signer_step(ctx: Ctx, family: str, key: SigningKey | None) -> None:
    """Say what to run on the hub's server when the hub is on another machine (its
    allowed signers live there only)."""
    step = project.signer_step(ctx.settings, family, key)
    if step is not None:
        click.echo(f"ainarres: next step: {step}", err=True)


@family.command("list")
@JSON_OPTION
@pass_ctx
def family_list(ctx: Ctx, as_json: bool) -> None:
    """Every family with its roles and active denials."""
    with ctx.operator() as conn:
        rows = reads.families(conn)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no families yet: add one with `ainarres family add NAME --tool T --model M`")
    for row in rows:
        roles = ",".join(g.role + ("" if g.active else "(inactive)") for g in row.grants)
        denied = ",".join(d.role for d in row.denials)
        click.echo(
            f"{row.name}  maker={row.maker} tool={row.tool} model={row.model} "
            f"roles={roles or '-'}"
            + (f" denied={denied}" if denied else "")
            + (" RETIRED" if row.retired_at else "")
        )


@family.command("show")
@click.argument("name")
@JSON_OPTION
@pass_ctx
def family_show(ctx: Ctx, name: str, as_json: bool) -> None:
    """One family: grants, denials with reasons, agents."""
    with ctx.operator() as conn:
        row = reads.families(conn, name)[0]
    if as_json:
        emit_json(row)
        return
    click.echo(
        f"{row.name}: maker {row.maker}, tool {row.tool}, model {row.model}, "
        f"database role {row.db_role}, {row.agents} agent(s)"
        + (f"; retired {row.retired_at:%Y-%m-%d %H:%M}" if row.retired_at else "")
    )
    for g in row.grants:
        until = f" until {g.expires_at:%Y-%m-%d %H:%M}" if g.expires_at else ""
        click.echo(f"  grant {g.role}{until}{'' if g.active else ' (inactive)'}")
    for d in row.denials:
        until = f"until {d.expires_at:%Y-%m-%d %H:%M}" if d.expires_at else "permanent"
        click.echo(f"  denied {d.role} ({until}): {safe(d.reason)}")


@click.command()
@click.argument("family_name", metavar="FAMILY")
@click.argument("role")
@click.option("--for", "duration", help="Expire after this long (e.g. 8h, 7d); default never.")
@JSON_OPTION
@pass_ctx
def grant(ctx: Ctx, family_name: str, role: str, duration: str | None, as_json: bool) -> None:
    """Give FAMILY the ROLE (designer, implementer, reviewer, integrator)."""
    with ctx.operator() as conn:
        if role == "integrator":
            # The seat is a person's (the board says so for anyone else); a person's key
            # must carry a passphrase before it may sign main.
            known = [f for f in reads.families(conn) if f.name == family_name]
            if known and known[0].maker == "person":
                project.require_protected_integrator_key(ctx.settings, family_name)
        finish(admin.grant(conn, family_name, role, expiry(duration)), as_json)


@click.command()
@click.argument("family_name", metavar="FAMILY")
@click.argument("role")
@click.option("--reason", required=True, help="Why; recorded in the log.")
@click.option("--for", "duration", help="Expire after this long (e.g. 1d); default permanent.")
@JSON_OPTION
@pass_ctx
def deny(
    ctx: Ctx, family_name: str, role: str, reason: str, duration: str | None, as_json: bool
) -> None:
    """Deny FAMILY the ROLE, overriding its grant until the denial expires or is lifted."""
    with ctx.operator() as conn:
        finish(admin.deny(conn, family_name, role, reason, expiry(duration)), as_json)


@click.command()
@click.argument("family_name", metavar="FAMILY")
@click.argument("role")
@click.option("--reason", required=True, help="Why; recorded in the log.")
@JSON_OPTION
@pass_ctx
def lift(ctx: Ctx, family_name: str, role: str, reason: str, as_json: bool) -> None:
    """Lift FAMILY's active denials of ROLE."""
    with ctx.operator() as conn:
        finish(admin.lift(conn, family_name, role, reason), as_json)


@family.command("protect")
@click.argument("name")
@pass_ctx
def family_protect(ctx: Ctx, name: str) -> None:
    """Put a passphrase on family NAME's signing key (required before it may integrate).

    The passphrase is asked on the terminal; with no terminal it is read from the file
    named by $AINARRES_PASSPHRASE_FILE (keep that file 0600, or better, remove it after).
    """
    path = project.protect_key(
        ctx.settings, name, new_passphrase(project.PASSPHRASE_FILE_ENV, "New passphrase")
    )
    click.echo(f"{path} is now passphrase-protected")


@family.command("rotate-key")
@click.argument("name")
@click.option(
    "--passphrase",
    is_flag=True,
    help="Protect the new key with a passphrase (required for an integrator's).",
)
@pass_ctx
def family_rotate_key(ctx: Ctx, name: str, passphrase: bool) -> None:
    """Give family NAME a new signing key: the hub trusts the new one only, at once (a push
    signed with the old key is refused), and the board logs it."""
    old = project.key_path(ctx.settings, family_name(name))
    if old.exists() and is_protected(old) and not passphrase:
        raise BadInput(f"{name}'s key is passphrase-protected: give --passphrase for the new one")
    secret = new_passphrase(project.PASSPHRASE_FILE_ENV, "New passphrase") if passphrase else None
    with ctx.operator() as conn:
        made = project.rotate_key(conn, ctx.settings, name, secret)
    click.echo(f"{name} signs with a new key ({made}); the old one is refused from now on")
    _signer_step(ctx, name, project.family_key(ctx.settings, name))


@family.command("rotate-password")
@click.argument("name")
@JSON_OPTION
@pass_ctx
def family_rotate_password(ctx: Ctx, name: str, as_json: bool) -> None:
    """Give family NAME's database login a new password (its 0600 credential file too)."""
    family_name(name)
    with ctx.operator() as conn:
        finish(admin.rotate_password(conn, ctx.settings, name), as_json)


@family.command("retire")
@click.argument("name")
@click.option("--reason", required=True, help="Why; recorded in the log.")
@JSON_OPTION
@pass_ctx
def family_retire(ctx: Ctx, name: str, reason: str, as_json: bool) -> None:
    """Retire family NAME: its login off, its roles revoked, its claims released, its key
    out of the hub's allowed signers. Its history stays on the board."""
    family_name(name)
    with ctx.operator() as conn:
        out = project.retire_family(conn, ctx.settings, name, reason)
    if out.ok:
        _signer_step(ctx, name, None)
    finish(out, as_json)


@family.command("export")
@click.argument("name")
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(dir_okay=False),
    help="The bundle file to write: mode 0600, never replaced without --force.",
)
@click.option(
    "--seal",
    is_flag=True,
    help="Encrypt it under a passphrase: asked twice on the terminal, or with no "
    f"terminal read from the file named by ${bundle.PASSPHRASE_ENV}.",
)
@click.option(
    "--hub",
    "hub_url",
    help="The hub's URL as the agent's machine reaches it (default: this project's "
    "hub, when that is a URL), e.g. ssh://hub@server/srv/project.git.",
)
@click.option(
    "--hub-host-key-file",
    type=click.Path(dir_okay=False),
    help="The hub server's ssh host keys, as `ssh-keyscan HOST` prints them: the "
    "joined machine accepts only these.",
)
@click.option(
    "--board-url",
    help="The board's address as the agent's machine reaches it: postgresql://HOST"
    "[:PORT]/DBNAME[?sslmode=verify-full&sslrootcert=CA_FILE] (default: this "
    "project's database URL, without its login). No user or password in it.",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@JSON_OPTION
@pass_ctx
def family_export(
    ctx: Ctx,
    name: str,
    dest: str,
    seal: bool,
    hub_url: str | None,
    hub_host_key_file: str | None,
    board_url: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write one file that sets up another machine to run family NAME: the board's address
    and CA certificate, the family's own login, its signing key, the hub's URL (and the
    hub server's host keys). Run `ainarres join FILE` on that machine, then delete FILE.

    Nothing of the operator's, nor of any other family's, goes in; a family that holds the
    integrator grant is refused (that key stays on the person's machine), and so is a board
    or hub no other machine could reach (the embedded board, a Unix socket, localhost, a
    hub that is a folder here).
    """
    family_name(name)
    target = Path(dest)
    bundle.refuse_existing(target, force)
    address = bundle.board_address(ctx.settings, board_url)
    keys = Path(hub_host_key_file) if hub_host_key_file else None
    hub_place = bundle.hub_place(ctx.settings, hub_url, keys)
    with ctx.operator() as conn:
        row = reads.families(conn, name)[0]
    made = bundle.build(ctx.settings, row, address, hub_place)
    # Asked last: a refused export never asks.
    secret = new_passphrase(bundle.PASSPHRASE_ENV, "Passphrase for the bundle") if seal else None
    bundle.write_new_file(target, bundle.render(made.bundle, secret), force)
    board = made.bundle.board.address
    where = f"{board['host']}:{board.get('port', '5432')}/{board['dbname']}"
    if as_json:
        emit_json(
            {
                "family": name,
                "file": str(target.absolute()),
                "sealed": seal,
                "board": {
                    **board,
                    "user": made.bundle.board.user,
                    "ca": made.bundle.board.ca is not None,
                },
                "hub": made.bundle.hub.url,
                "hub_host_keys": len((made.bundle.hub.known_hosts or "").splitlines()),
                "key_fingerprint": made.fingerprint,
                "warnings": made.warnings,
            }
        )
        return
    for line in made.warnings:
        click.echo(f"ainarres: warning: {line}", err=True)
    sealed = ", sealed under your passphrase" if seal else ""
    click.echo(
        f"wrote {target} (0600{sealed}) for family {name}: board {where} as "
        f"{made.bundle.board.user}, hub {made.bundle.hub.url}, key {made.fingerprint}.\n"
        f"It holds {name}'s password and private key: move it to the agent's machine over a "
        "private channel, run `ainarres join FILE` there, and delete it from both."
    )


@click.command()
@click.argument("family_name_", metavar="FAMILY")
@click.argument("role")
@click.option("--reason", default="revoked by a person", show_default=True,
              help="Why; recorded in the log.")  # fmt: skip
@JSON_OPTION
@pass_ctx
def revoke(ctx: Ctx, family_name_: str, role: str, reason: str, as_json: bool) -> None:
    """Take ROLE back from FAMILY (the grant is removed and logged). Hand the integrator
    seat over with `revoke OLD integrator` then `grant NEW integrator`."""
    with ctx.operator() as conn:
        finish(admin.revoke(conn, family_name_, role, reason), as_json)


COMMANDS = [family, grant, deny, lift, revoke]
