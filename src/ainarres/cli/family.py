"""`family add|list|show`, `grant`, `deny`, `lift`: the person wires who may do what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from ainarres import project
from ainarres.board import admin, reads
from ainarres.cli.context import JSON_OPTION, Ctx, new_passphrase, pass_ctx
from ainarres.cli.render import emit_json, finish
from ainarres.errors import BadInput

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
    "--passphrase",
    is_flag=True,
    help="Protect its signing key with a passphrase (required for an integrator): asked on "
    "the terminal, or with no terminal read from the 0600 file named by "
    "$AINARRES_PASSPHRASE_FILE.",
)
@JSON_OPTION
@pass_ctx
def family_add(ctx: Ctx, name: str, tool: str, model: str, passphrase: bool, as_json: bool) -> None:
    """Add family NAME (e.g. claude-code+sonnet) with its own role and 0600 credential.

    A new family holds no role: give it one with `ainarres grant`.
    """
    # Asked before anything is written: a refused passphrase leaves no half-made family.
    secret = None
    if passphrase:
        secret = new_passphrase(project.PASSPHRASE_FILE_ENV, "New passphrase")
    with ctx.operator() as conn:
        out = admin.add_family(conn, ctx.settings, name, tool, model)
    if out.ok:
        project.ensure_family_key(ctx.settings, name, secret)
    finish(out, as_json)


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
        roles = ",".join(g["role"] + ("" if g["active"] else "(inactive)") for g in row["grants"])
        denied = ",".join(d["role"] for d in row["denials"])
        click.echo(
            f"{row['name']}  tool={row['tool']} model={row['model']} roles={roles or '-'}"
            + (f" denied={denied}" if denied else "")
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
        f"{row['name']}: tool {row['tool']}, model {row['model']}, "
        f"database role {row['db_role']}, {row['agents']} agent(s)"
    )
    for g in row["grants"]:
        until = f" until {g['expires_at']}" if g["expires_at"] else ""
        click.echo(f"  grant {g['role']}{until}{'' if g['active'] else ' (inactive)'}")
    for d in row["denials"]:
        until = f"until {d['expires_at']}" if d["expires_at"] else "permanent"
        click.echo(f"  denied {d['role']} ({until}): {d['reason']}")


@click.command()
@click.argument("family_name", metavar="FAMILY")
@click.argument("role")
@click.option("--for", "duration", help="Expire after this long (e.g. 8h, 7d); default never.")
@JSON_OPTION
@pass_ctx
def grant(ctx: Ctx, family_name: str, role: str, duration: str | None, as_json: bool) -> None:
    """Give FAMILY the ROLE (designer, implementer, reviewer, integrator)."""
    if role == "integrator":
        project.require_protected_integrator_key(ctx.settings, family_name)
    with ctx.operator() as conn:
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


COMMANDS = [family, grant, deny, lift]
