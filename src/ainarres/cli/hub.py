"""`hub init`, `show`, `check`, `use`, serving it over ssh (`serve`, `authorized-keys`,
`allow`), and its resident gate (`gate`): the bare repository only the integrator can
move main in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ainarres.cli.context import JSON_OPTION, Ctx, pass_ctx
from ainarres.cli.render import emit_json
from ainarres.errors import BadInput
from ainarres.store import Store, family_name

# The hub, the board and the integrator are imported by the commands that use them: a
# command's --help pays for none of them.


@click.group()
def hub() -> None:
    """The hub: a bare repository whose hooks enforce the board's rules."""


@hub.command("init")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The project to put on main (a git repository or a plain folder).",
)
@click.option(
    "--path",
    type=click.Path(file_okay=False),
    help="Where to make the hub (default: STATE_DIR/hub.git).",
)
@click.option(
    "--checks",
    "test_command",
    help="Add [checks] test = COMMAND to ainarres.toml on main (integrate runs it on every "
    "merge, and refuses to merge without checks).",
)
@pass_ctx
def hub_init(ctx: Ctx, source: str, path: str | None, test_command: str | None) -> None:
    """Make the hub from a project, install the gate, and bind it to this board.

    Every family's signing key becomes an allowed signer. Agents reach the hub by
    path or file:// here; any transport that runs receive-pack works the same.
    """
    from ainarres import project

    with ctx.operator() as conn:
        made = project.init_hub(conn, ctx.settings, Path(source), Path(path) if path else None,
                                test_command)  # fmt: skip
    click.echo(f"hub ready at {made}; main holds {Path(source).resolve().name}")
    proposal = None if test_command else checks_proposal(Path(source))
    if proposal:
        click.echo(proposal, err=True)


def checks_proposal(source: Path) -> str | None:
    """What to say when main has no usable [checks]: integrate refuses until it has."""
    from ainarres.integrate.checks import load_checks
    from ainarres.integrate.detect import likely_test_command
    from ainarres.integrate.run import CONFIG

    try:
        text = (source / CONFIG).read_text(encoding="utf-8")
        load_checks(text)
        return None
    except (OSError, UnicodeDecodeError, BadInput):
        pass
    guess = likely_test_command(source)
    table = f'[checks]\ntest = "{guess or "<the command that runs your tests>"}"'
    found = f"this looks like `{guess}`" if guess else "no test command was recognised"
    return (
        f"ainarres: note: main has no [checks] in {CONFIG}, so `ainarres integrate` will "
        f'refuse to merge until it has; {found}. Make the hub with --checks "COMMAND", or '
        f"add to {CONFIG} through a task (integrated once with --no-checks), or skip = "
        f'"why" for a project with nothing to check:\n{table}'
    )


@hub.command("show")
@JSON_OPTION
@pass_ctx
def hub_show(ctx: Ctx, as_json: bool) -> None:
    """Where the hub is."""
    from ainarres import project

    where = project.require_hub(ctx.settings)
    if as_json:
        emit_json({"url": where.url, "path": None if where.local is None else str(where.local)})
    else:
        click.echo(str(where))


@hub.command("check")
@JSON_OPTION
@pass_ctx
def hub_check(ctx: Ctx, as_json: bool) -> None:
    """Verify the hub's hooks are ainarres's own, unmodified (digests recorded at install),
    and that the settings the gate relies on are intact. Exits 1 and says what differs."""
    from ainarres import project
    from ainarres.git import hub as hubs

    where = project.require_hub(ctx.settings).require_local("hub check")
    problems = hubs.check_hub(where)
    if as_json:
        emit_json({"hub": str(where), "problems": problems})
    elif problems:
        for line in problems:
            click.echo(f"ainarres: hub check: {line}", err=True)
    else:
        click.echo(f"hub {where}: hooks and settings as installed; its files are this "
                   "account's and nobody else may write them")  # fmt: skip
    if problems:
        raise SystemExit(1)


@hub.command("install-hooks")
@pass_ctx
def hub_install_hooks(ctx: Ctx) -> None:
    """Install the gate's hooks into the hub again, for this interpreter (after upgrading
    ainarres, or when `hub check` says a hook is missing or changed). A hook that is not
    ainarres's is kept aside as NAME.foreign, never deleted."""
    from ainarres import project
    from ainarres.git import hub as hubs
    from ainarres.git.hooks import install_hooks

    where = project.require_hub(ctx.settings).require_local("hub install-hooks")
    hubs.open_hub(where)  # a hub, not any folder
    installed = install_hooks(where, sys.executable)
    click.echo(f"hub {where}: installed {', '.join(sorted(installed))} for {sys.executable}")


@hub.command("use")
@click.argument("location")
@click.option(
    "--host-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The hub server's ssh host keys as known_hosts lines (ssh-keyscan prints them); "
    "from then on only these are accepted.",
)
@pass_ctx
def hub_use(ctx: Ctx, location: str, host_key_file: str | None) -> None:
    """Use the hub at LOCATION (on another machine, or a folder here) from now on.

    LOCATION is ssh://[user@]host[:port]/path, [user@]host:path, https://host/path,
    file://PATH or a path. Over ssh each family connects with its own signing key, which the
    hub's server lets in with `ainarres hub allow` and `ainarres hub authorized-keys`.
    """
    from ainarres import project
    from ainarres.git import hub as hubs
    from ainarres.git.location import parse_hub

    host_keys = None
    if host_key_file is not None:
        data = Path(host_key_file).read_bytes()
        if len(data) > hubs.MAX_KEY_TEXT * 4:
            raise BadInput(f"{host_key_file} is too big for a list of host keys")
        host_keys = data.decode("utf-8")
    named = parse_hub(location)
    if named.local is not None:
        hubs.open_hub(named.local)  # a folder here must be a hub
    where = project.record_hub(ctx.settings, location, host_keys)
    said = f"hub is now {where}"
    if host_keys is not None:
        said += f" (ssh accepts only the host keys of {host_key_file})"
    click.echo(said)
    if os.environ.get(project.HUB_ENV) and os.environ[project.HUB_ENV] != location:
        click.echo(f"ainarres: note: ${project.HUB_ENV} is set and comes first: "
                   f"{os.environ[project.HUB_ENV]}", err=True)  # fmt: skip
    known = Store(ctx.settings.state_dir).known_hosts
    if where.over_ssh and host_keys is None:
        click.echo(
            f"ainarres: note: ssh accepts the host keys in {known}"
            if known.exists()
            else "ainarres: note: no host keys recorded, so ssh checks ~/.ssh/known_hosts; "
            "give the server's with --host-key-file (ssh-keyscan -p PORT HOST, compared with "
            "`ssh-keygen -lf` of its key on the server)",
            err=True,
        )


@hub.command("serve")
@click.argument("hub_path")
def hub_serve(hub_path: str) -> None:
    """Serve git push and fetch of the hub at HUB_PATH to one ssh connection.

    The forced command of the hub account's authorized_keys (`ainarres hub authorized-keys`
    writes it): runs git-receive-pack or git-upload-pack on HUB_PATH when
    $SSH_ORIGINAL_COMMAND asks for exactly that, and refuses everything else (a shell,
    another repository, an interactive login). The gate decides every pushed ref.
    """
    from ainarres.git import serve

    sys.exit(serve.main([hub_path], os.environ))


@hub.command("gate")
@click.argument("hub_path", required=False)
@pass_ctx
def hub_gate(ctx: Ctx, hub_path: str | None) -> None:
    """Keep the hub's gate resident, so that a push does not start it (and psycopg) anew.

    Run it on the hub's machine as the hub's account, beside the hub at HUB_PATH (default:
    this project's hub), under a supervisor that restarts it (systemd Restart=always). The
    hook hands each push to it over a unix socket in the hub, 0600; while none runs, the
    hook judges the push itself, as slowly as before and just as strictly. Stops on
    SIGTERM or Ctrl-C, taking its socket away.
    """
    from ainarres import project
    from ainarres.gate.resident import ResidentGate

    where = Path(hub_path) if hub_path else project.require_hub(ctx.settings).require_local(
        "hub gate")  # fmt: skip
    ResidentGate(where, log=lambda line: click.echo(line, err=True)).serve_forever()


@hub.command("authorized-keys")
@click.option(
    "--python",
    "python",
    help="The interpreter the forced command runs, one that imports ainarres "
    "(default: the one running this).",
)
@JSON_OPTION
@pass_ctx
def hub_authorized_keys(ctx: Ctx, python: str | None, as_json: bool) -> None:
    """Print the hub account's authorized_keys, on the hub's server.

    One line per family key of the hub's allowed signers, each allowed to run only
    `ainarres hub serve` of this hub (no shell, pty or forwarding). Write it with
    `ainarres hub authorized-keys > ~/.ssh/authorized_keys` as the hub's account, and again
    after every `ainarres hub allow`.
    """
    from ainarres import project
    from ainarres.git import hub as hubs

    where = project.require_hub(ctx.settings).require_local("hub authorized-keys")
    hub_ = hubs.open_hub(where)
    interpreter = hubs.check_python(python or sys.executable)
    lines, skipped = hubs.authorized_keys(hub_, interpreter)
    for note in skipped:
        click.echo(f"ainarres: note: left out {note}", err=True)
    if as_json:
        emit_json({
            "hub": str(hub_.path),
            "command": hubs.serve_command(hub_.path, interpreter),
            "keys": [{"family": k.family, "key_type": k.key_type, "key": k.key, "line": k.line}
                     for k in lines],
        })  # fmt: skip
        return
    if not lines:
        click.echo(f"ainarres: note: no family key in {hub_.allowed_signers_file} yet, so "
                   "nobody can connect; add them with `ainarres hub allow`", err=True)  # fmt: skip
    click.echo(f"# ainarres hub {hub_.path}: each family's key runs git on it and nothing else "
               "(made by `ainarres hub authorized-keys`)")  # fmt: skip
    for key in lines:
        click.echo(key.line)


@hub.command("allow")
@click.argument("family")
@click.option("--key", "key_text", help="The family's public key: 'ssh-ed25519 AAAA...'.")
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The family's public key file (its .pub).",
)
@click.option("--remove", is_flag=True, help="Take the family's key away: its pushes fail.")
@pass_ctx
def hub_allow(
    ctx: Ctx, family: str, key_text: str | None, key_file: str | None, remove: bool
) -> None:
    """Let FAMILY sign pushes to the hub with a key (or, with --remove, with none), on the
    hub's server.

    The key replaces any key the family had: a push signed with the old one is refused
    from then on. Then make the account's authorized_keys again
    (`ainarres hub authorized-keys`), so the family can connect with it.
    """
    from ainarres import project
    from ainarres.git import hub as hubs

    family = family_name(family)
    if sum(x is not None for x in (key_text, key_file)) + remove != 1:
        raise BadInput("give exactly one of --key 'TYPE BASE64', --key-file PUB or --remove")
    where = project.require_hub(ctx.settings).require_local("hub allow")
    hub_ = hubs.open_hub(where)
    again = "`ainarres hub authorized-keys > ~/.ssh/authorized_keys`"
    if remove:
        if hubs.allow_key(hub_, family, None):
            click.echo(f"{family} has no key on the hub {hub_.path} now: its pushes are refused; "
                       f"make the account's authorized_keys again: {again}")  # fmt: skip
        else:
            click.echo(f"{family} had no key on the hub {hub_.path}; nothing changed")
        return
    if key_file is not None:
        data = Path(key_file).read_bytes()[: hubs.MAX_KEY_TEXT + 1]
        key_text = data.decode("utf-8")
    assert key_text is not None
    key = hubs.parse_public_key(key_text)
    changed = hubs.allow_key(hub_, family, key)
    if not changed:
        click.echo(f"{family} signs with {key.fingerprint} already; nothing changed")
        return
    click.echo(f"{family} may now push to the hub {hub_.path}, signing with {key.key_type} "
               f"{key.fingerprint}; make the account's authorized_keys again: {again}")  # fmt: skip


COMMANDS = [hub]
