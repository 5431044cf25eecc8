"""`ainarres integrate`: a person starts the only process that can move main."""

from __future__ import annotations

import sys

import click

from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.credentials import family_file
from ainarres.errors import AinarresError, BadInput


def _integrator_family(ctx: Ctx) -> str:
    """The one family with an active integrator grant whose credential is on this machine."""
    from ainarres.board import reads

    with ctx.operator() as conn:
        families = reads.integrators(conn)
    local = [f for f in families if family_file(ctx.settings.state_dir, f).exists()]
    if len(local) == 1:
        return str(local[0])
    if not local:
        raise AinarresError(
            "no family holds the integrator role here; grant one with "
            "`ainarres grant FAMILY integrator`"
        )
    raise BadInput(f"several integrator families ({', '.join(local)}): pass --family")


@click.command("integrate")
@click.option("--family", help="The integrator family (default: the only one).")
@click.option("--dry-run", is_flag=True, help="Merge and check only: no claim, no push.")
@click.option("--once", is_flag=True, help="Integrate at most one task.")
@click.option(
    "--no-checks",
    is_flag=True,
    help="Integrate without running the project's checks (this run only; said in the output).",
)
@click.option(
    "--unsandboxed-checks",
    is_flag=True,
    help="Run the checks as you, outside the sandbox (unsafe: they run the task's code).",
)
@click.option(
    "--ssh-agent",
    "use_agent",
    is_flag=True,
    help="Sign through your ssh-agent instead of asking for the key's passphrase.",
)
@JSON_OPTION
@pass_ctx
def integrate_cmd(
    ctx: Ctx,
    family: str | None,
    dry_run: bool,
    once: bool,
    no_checks: bool,
    unsandboxed_checks: bool,
    use_agent: bool,
    as_json: bool,
) -> None:
    """Merge approved tasks into main: in memory, checked, signed, one push per run.

    Each approved task's reviewed head is merged onto main without a checkout, and the
    project's checks ([checks] in ainarres.toml on main: test, pre_commit, timeout,
    network; or skip = "why") run on the merge in the sandbox. On a conflict or failing
    checks the task goes back to implement with the reason. The good merges go to the
    hub in one signed push, then the board marks them shipped. A crash at any point is
    finished by running it again; nothing merges twice.
    """
    from ainarres import project
    from ainarres.integrate.run import Options, integrate

    name = family or _integrator_family(ctx)
    ask = (lambda prompt: str(click.prompt(prompt, hide_input=True, err=True))
           ) if sys.stdin.isatty() else None  # fmt: skip
    passphrase = None if dry_run else project.unlock_passphrase(ctx.settings, name, ask, use_agent)
    options = Options(
        family=name,
        dry_run=dry_run,
        once=once,
        checks=not no_checks,
        sandbox_checks=not unsandboxed_checks,
        passphrase=passphrase,
        use_agent=use_agent,
    )
    results = integrate(ctx.settings, options, progress=lambda line: click.echo(line, err=as_json))
    if as_json:
        emit_json([r.__dict__ for r in results])
    elif results:
        counts = {k: sum(r.outcome == k for r in results) for k in
                  ("shipped", "returned", "deferred", "would-ship", "would-return")}  # fmt: skip
        if dry_run:
            click.echo(f"dry run: {counts['would-ship']} would ship, "
                       f"{counts['would-return']} would return; nothing changed")  # fmt: skip
        else:
            click.echo(
                f"{counts['shipped']} shipped, {counts['returned']} returned"
                + (f", {counts['deferred']} deferred" if counts["deferred"] else "")
            )


COMMANDS = [integrate_cmd]
