"""Serving the web board: bind first (port 0 picks a free one), then say the URL once."""

from __future__ import annotations

import contextlib
import ipaddress
import resource
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn

from ainarres.config import Settings
from ainarres.errors import BadInput
from ainarres.web.app import Web, load_or_make_token, make_app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadInput(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port "
            "(0: any free one) or --host"
        ) from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def _more_files() -> None:
    """Open files up to the hard limit: each connection is one, and a client holding many
    half-sent requests open should need far more than the usual soft 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Server(uvicorn.Server):
    """uvicorn's server that also tells the app to end its event streams on Ctrl-C (else
    the open /events streams would hold the shutdown)."""

    def __init__(self, config: uvicorn.Config, web: Web) -> None:
        super().__init__(config)
        self.web = web

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.web.stop.set()
        super().handle_exit(sig, frame)


def serve(
    settings: Settings,
    host: str,
    port: int,
    allow_actions: bool,
    say: Callable[[str], None],
    check_every: float = 5.0,
) -> None:
    """Serve until Ctrl-C; `say` gets the one line with the URL (token included)."""
    from ainarres.board import reads
    from ainarres.board.db import connect

    with connect(settings) as conn:  # no board, no server: say so now, not on each page
        reads.board(conn)
    token = load_or_make_token(settings.state_dir)
    _more_files()
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    hosts = {f"{shown}:{bound}"}
    if _is_loopback(host):
        hosts.add(f"localhost:{bound}")
    web = Web(settings, token, allow_actions, frozenset(hosts), check_every=check_every)
    config = uvicorn.Config(
        make_app(web),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        lifespan="on",
    )
    if not _is_loopback(host):
        say(f"warning: serving plain HTTP on {host}: anyone on the network sees the token")
    say(f"http://{shown}:{bound}/?token={token}")
    _Server(config, web).run(sockets=[sock])
