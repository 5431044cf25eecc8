"""`workflow show|set`: a person reads and changes the workflow's settings, without SQL."""

from __future__ import annotations

import click

from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json, finish
from ainarres.errors import BadInput


@click.group()
def workflow() -> None:
    """The workflow: stages with their leases and attempts, and who may review whom."""


@workflow.command("show")
@JSON_OPTION
@pass_ctx
def show(ctx: Ctx, as_json: bool) -> None:
    """Each workflow's cross review (mode and level) and its stages' settings."""
    from ainarres.board import reads

    with ctx.operator() as conn:
        rows = reads.workflows(conn)
    if as_json:
        emit_json(rows)
        return
    for w in rows:
        click.echo(f"{w.name}: cross review {w.cross_review} at the {w.cross_level} level")
        for s in w.stages:
            flags = " (first)" if s.initial else " (last)" if s.terminal else ""
            click.echo(f"  {s.stage}{flags}: lease {s.lease_seconds} s, "
                       f"at most {s.max_attempts} attempts")  # fmt: skip


@workflow.command("set")
@click.option("--workflow", "name", default="dev", show_default=True)
@click.option("--stage", help="The stage whose --lease / --max-attempts change.")
@click.option("--lease", type=click.IntRange(10, 86400), help="Lease of a claim, seconds.")
@click.option("--max-attempts", type=click.IntRange(1, 100), help="Expired leases before a block.")
@click.option("--cross-review", type=click.Choice(["require", "prefer", "off"]),
              help="May a reviewer be on the writer's side? require: never; prefer: only "
              "when nothing else waits; off: no preference.")  # fmt: skip
@click.option(
    "--cross-level",
    type=click.Choice(["maker", "family"]),
    help="What 'side' means: the same maker (default) or the same family.",
)
@JSON_OPTION
@pass_ctx
def set_(ctx: Ctx, name: str, stage: str | None, lease: int | None, max_attempts: int | None,
         cross_review: str | None, cross_level: str | None, as_json: bool) -> None:  # fmt: skip
    """Change a stage's lease or attempts, or the cross review; each change is logged."""
    from ainarres.board import admin

    if (lease is not None or max_attempts is not None) and stage is None:
        raise BadInput("--lease and --max-attempts change a stage: give --stage NAME")
    if stage is not None and lease is None and max_attempts is None:
        raise BadInput("--stage goes with --lease and/or --max-attempts")
    if stage is None and cross_review is None and cross_level is None:
        raise BadInput("nothing to change: see `ainarres workflow set --help`")
    with ctx.operator() as conn, conn.transaction():
        out = None
        if stage is not None:
            out = admin.set_stage(conn, name, stage, lease, max_attempts)
        if (out is None or out.ok) and (cross_review or cross_level):
            out = admin.set_cross_review(conn, name, cross_review, cross_level)
        assert out is not None
        if not out.ok:
            finish(out, as_json)
    finish(out, as_json)


COMMANDS = [workflow]
