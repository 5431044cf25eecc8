"""`canary set|status|run|report`: seeded review rounds that measure reviewers (ADR 0018)."""

from __future__ import annotations

import click

from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json, finish

STALE_SECONDS = 60.0  # a hold or verdict older than this: the service is probably not running


@click.group()
def canary() -> None:
    """Canaries: review rounds seeded with a known defect, to measure each reviewer.

    \b
    A person sets how often (`canary set --rate 0.1`) and runs the service on the hub's
    machine (`canary run`): it holds each new review round until it has decided whether to
    seed it, plants one defect from the catalogue in the change, and puts the implementer's
    head back after the verdict. Reviewers see an ordinary review; a seeded round is
    disclosed once its verdict is in, and it never ships. `canary report` (and `ainarres
    report` run by the person) shows the catch rates.
    """


@canary.command("set")
@click.option("--rate", type=float, required=True,
              help="Share of review rounds to seed, 0 to 0.9 (0 stops new canaries).")  # fmt: skip
@click.option("--seed", type=int, default=None,
              help="Seed of the draws (which rounds, which defect); else kept.")  # fmt: skip
@JSON_OPTION
@pass_ctx
def set_rate(ctx: Ctx, rate: float, seed: int | None, as_json: bool) -> None:
    """Set how often review rounds are seeded with a defect."""
    from ainarres.board import admin

    with ctx.operator() as conn:
        out = admin.canary_set(conn, rate, seed)
    note = "" if rate == 0 else "; run `ainarres canary run` where the hub is: reviews wait for it"
    finish(out, as_json, f"{out.message}{note}")


@canary.command("status")
@JSON_OPTION
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """The rate, and the rounds waiting for the service, live and judged."""
    from ainarres.board import reads

    with ctx.operator() as conn:
        st = reads.canary_settings(conn)
        holds = reads.canary_holds(conn)
    if as_json:
        emit_json({"settings": st, "holds": holds})
        return
    waiting = f"{st.held} round(s) and {st.verdicts} verdict(s) waiting for the service"
    click.echo(f"rate {st.rate:g} (seed {st.seed}); {waiting}, {st.live} live, "
               f"{st.judged} judged")  # fmt: skip
    if st.oldest_wait_seconds is not None and st.oldest_wait_seconds > STALE_SECONDS:
        click.echo(f"warning: one has waited {st.oldest_wait_seconds:.0f} s: is `ainarres canary "
                   "run` running on the hub's machine? Reviews wait for it while canaries are "
                   "on (`canary set --rate 0` lets real rounds go)")  # fmt: skip
    for h in holds:
        why = "its own head goes back" if h.restore else "decide"
        click.echo(f"- {h.short_id} round {h.round}: {why}")


@canary.command("run")
@click.option("--once", is_flag=True, help="Decide what waits now, then exit.")
@click.option("--interval", type=click.FloatRange(0.05, 60.0), default=0.5, show_default=True,
              help="Seconds between passes.")  # fmt: skip
@pass_ctx
def run(ctx: Ctx, once: bool, interval: float) -> None:
    """The canary service: decide, plant and restore held review rounds (Ctrl-C stops it).

    Runs on the hub's machine with the operator's login; every step is safe to repeat."""
    from ainarres.canary import service

    settings = ctx.settings
    if once:
        for intake in service.pass_once(settings):
            click.echo(intake.line)
        return
    click.echo(f"canary service: watching every {interval:g} s (Ctrl-C stops)", err=True)
    try:
        service.watch(settings, interval, lambda intake: click.echo(intake.line))
    except KeyboardInterrupt:
        click.echo("canary service: stopped", err=True)


@canary.command("report")
@JSON_OPTION
@pass_ctx
def report(ctx: Ctx, as_json: bool) -> None:
    """Catch rates per reviewer family, maker and defect kind, with 95% intervals, and
    other-maker against same-maker review."""
    from ainarres.board import reads
    from ainarres.canary import score

    with ctx.operator() as conn:
        scores = score.score(reads.canary_results(conn))
    if as_json:
        emit_json(scores.as_dict())
        return
    click.echo(score.as_text(scores))


COMMANDS = [canary]
