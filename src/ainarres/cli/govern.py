"""`govern status|policy|lift|ban`: track records, policies, and a person's restorations."""

from __future__ import annotations

import click

from ainarres.board import admin
from ainarres.cli import family as family_cmds
from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json, finish, heal, policy_line, safe
from ainarres.govern.status import standing


@click.group()
def govern() -> None:
    """Governance: the board demotes families whose record trips a policy; only a person
    restores them or bans them for good."""


@govern.command("status")
@JSON_OPTION
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Each family's track record, active denials, and families trending toward one."""
    with ctx.operator() as conn:
        st = standing(conn)
    if as_json:
        emit_json(
            {
                "track_records": st.track_records,
                "denials": st.denials,
                "trending": st.trending,
                "integrators": st.integrators,
                "recommendations": st.recommendations(),
            }
        )
        return
    click.echo(
        "family                 claimed shipped returned abandoned reviews failed-appr overturned"
    )
    for r in st.track_records:
        click.echo(
            f"{r.family:<22} {r.claimed:>7} {r.shipped:>7} {r.returned_as_producer:>8} "
            f"{r.abandoned:>9} {r.reviews_done:>7} {r.approvals_failed_checks:>11} "
            f"{r.returns_overturned:>10}"
        )
    for d in st.denials:
        click.echo(f"denied: {d.family} {d.role} ({heal(d)}): {safe(d.reason)}")
    for line in st.recommendations():
        click.echo(f"- {safe(line)}")


@govern.group("policy")
def policy() -> None:
    """Policies as rows: thresholds per role."""


@policy.command("list")
@JSON_OPTION
@pass_ctx
def policy_list(ctx: Ctx, as_json: bool) -> None:
    """Every policy: role, metric, threshold, window, first denial, enabled."""
    with ctx.operator() as conn:
        rows = standing(conn).policies
    if as_json:
        emit_json(rows)
        return
    for p in rows:
        click.echo(policy_line(p))


@policy.command("set")
@click.argument("name")
@click.option("--threshold", type=float)
@click.option("--window", help="A PostgreSQL interval, e.g. '7 days'.")
@click.option("--denial", "denial_base", help="First denial's length; doubles on repeats.")
@click.option("--enable/--disable", "enabled", default=None)
@JSON_OPTION
@pass_ctx
def policy_set(
    ctx: Ctx,
    name: str,
    threshold: float | None,
    window: str | None,
    denial_base: str | None,
    enabled: bool | None,
    as_json: bool,
) -> None:
    """Change a policy (a person only: families cannot write policies)."""
    with ctx.operator() as conn:
        finish(admin.set_policy(conn, name, threshold, window, denial_base, enabled), as_json)


# Restoring is the same act as the top-level `ainarres lift`: one command, two places.
govern.add_command(family_cmds.lift, "lift")


@govern.command("ban")
@click.argument("family_name", metavar="FAMILY")
@click.argument("role")
@click.option("--permanent", is_flag=True, required=True, help="Required: a ban never expires.")
@click.option("--reason", required=True, help="Why; recorded.")
@JSON_OPTION
@pass_ctx
def ban(ctx: Ctx, family_name: str, role: str, permanent: bool, reason: str,
        as_json: bool) -> None:  # fmt: skip
    """Deny FAMILY the ROLE for good; only `govern lift` by a person ends it."""
    del permanent
    with ctx.operator() as conn:
        finish(admin.deny(conn, family_name, role, reason, None), as_json)


COMMANDS = [govern]
