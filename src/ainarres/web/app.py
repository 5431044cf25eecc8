"""The local web board: a Starlette app over the operator's view of the board.

Every request passes `Guard` first: the Host header must be the one served (no DNS
rebinding), the token must come with it (a cookie set from the URL's ?token=, or a Bearer
header), bodies are at most 16 KiB, and a POST (only with actions allowed) needs the cookie,
the form's CSRF value and an Origin (or Referer) of this server. A refusal changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qs, urlencode
from uuid import UUID

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ainarres.config import Settings
from ainarres.errors import AinarresError, BadInput, Unavailable
from ainarres.store import Store
from ainarres.web import pages

if TYPE_CHECKING:
    from ainarres.board.db import Connection

MAX_BODY = 16 * 1024
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
T = TypeVar("T")


def token_file(state_dir: Path) -> Path:
    return Store(state_dir).root / "web" / "token"


def load_or_make_token(state_dir: Path) -> str:
    """The web token kept in <state>/web/token (0600): reused while it is private and well
    formed, otherwise made again (secrets.token_urlsafe(32))."""
    from ainarres.credentials import write_private_text

    path = token_file(state_dir)
    try:
        st = path.stat()
        text = path.read_text().strip()
        private = stat.S_IMODE(st.st_mode) & 0o077 == 0 and st.st_uid == os.getuid()
        if private and TOKEN_RE.match(text):
            return text
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    token = secrets.token_urlsafe(32)
    write_private_text(path, token + "\n")
    return token


@dataclass
class Web:
    """One served web board: what it serves, its secret, and the board's latest shape."""

    settings: Settings
    token: str
    allow_actions: bool
    hosts: frozenset[str]  # the Host headers this server answers to ("127.0.0.1:8787")
    check_every: float = 5.0
    shape: str = ""
    version: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    diff_lock: threading.Lock = field(default_factory=threading.Lock)
    # What the browser's cookie carries: a secret of this run, never the token. Browsers send
    # a 127.0.0.1 cookie to every port of 127.0.0.1, including a server a sandboxed tool
    # could run there (the sandbox shares the network); what leaks that way dies with this
    # process, and the token in the 0600 file stays unknown.
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def cookie_name(self) -> str:
        # Cookies ignore ports: each port's board keeps its own.
        port = next(iter(self.hosts)).rsplit(":", 1)[-1]
        return f"ainarres_web_{port}"

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def session_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.session.encode())

    @property
    def csrf(self) -> str:
        """The value every form carries: an HMAC of this run's session, so a page knows it,
        a foreign site cannot make it, and it changes with each run."""
        return hmac.new(self.session.encode(), b"ainarres-web-csrf", hashlib.sha256).hexdigest()

    def read(self, fn: Callable[[Connection], T]) -> T:
        """`fn` on a fresh operator connection (one per request; closed after)."""
        from ainarres.board.db import connect

        with connect(self.settings) as conn:
            return fn(conn)

    def watch(self) -> None:
        """The thread that follows the board's shape (LISTEN, and a look every few seconds)."""
        from ainarres.board.db import operator_conninfo
        from ainarres.board.watch import board_shapes

        while not self.stop.is_set():
            try:
                for shape in board_shapes(
                    operator_conninfo(self.settings), self.stop, self.check_every
                ):
                    self.shape = shape
                    self.version += 1
            except AinarresError:
                self.stop.wait(self.check_every)  # the board is away: look again later


def _text(status: int, message: str) -> Response:
    return HTMLResponse(pages.problem_page(f"{status}", message, ""), status_code=status)


class Guard:
    """Host, token, size, method, CSRF and origin checks in front of every route."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope["ainarres.nonce"] = nonce
        send = _with_headers(send, nonce)
        response, receive = await self._check(scope, receive)
        if response is not None:
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive) -> tuple[Response | None, Receive]:
        web = self.web
        request = Request(scope)
        host = request.headers.get("host", "")
        if host not in web.hosts:
            return _text(
                400,
                f"this board answers to {' or '.join(sorted(web.hosts))} only (Host header "
                f"{host!r}); open the URL `ainarres web` printed",
            ), receive
        given = request.query_params.get("token")
        if given is not None:
            if not web.token_ok(given) or request.method not in ("GET", "HEAD"):
                return _unauthorized(), receive
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            # Never `//host/...`: a path that a browser would take for another site.
            target = "/" + request.url.path.lstrip("/") + (f"?{urlencode(rest)}" if rest else "")
            redirect = RedirectResponse(target, status_code=303)
            redirect.set_cookie(web.cookie_name, web.session, httponly=True, samesite="strict",
                                path="/")  # fmt: skip
            return redirect, receive
        by_cookie = web.session_ok(request.cookies.get(web.cookie_name))
        auth = request.headers.get("authorization", "")
        by_bearer = auth.startswith("Bearer ") and web.token_ok(auth[7:].strip())
        if not (by_cookie or by_bearer):
            return _unauthorized(), receive
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return _text(413, f"request body over {MAX_BODY} bytes; send less"), receive
        body = await _read_body(receive)
        if body is None:
            return _text(413, f"request body over {MAX_BODY} bytes; send less"), receive
        if request.method in ("GET", "HEAD"):
            return None, _replay(body)
        if not web.allow_actions:
            response = _text(
                405, "this board is read-only; restart `ainarres web --allow-actions` to act"
            )
            response.headers["allow"] = "GET, HEAD"
            return response, receive
        origin = request.headers.get("origin") or _origin_of(request.headers.get("referer"))
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
        csrf = (form.get("csrf") or [""])[0]
        if not by_cookie:
            return _text(
                403, "actions need the browser's token cookie; use the page's form"
            ), receive
        if origin not in {f"http://{h}" for h in web.hosts}:
            return _text(403, "refused: the request came from another origin"), receive
        if not hmac.compare_digest(csrf.encode(), web.csrf.encode()):
            return _text(403, "refused: the form's CSRF value is missing or wrong; reload "
                              "the page and try again"), receive  # fmt: skip
        scope["ainarres.form"] = {k: v[0] for k, v in form.items()}
        return None, _replay(body)


def _origin_of(referer: str | None) -> str | None:
    if not referer:
        return None
    match = re.match(r"^(https?://[^/]+)(/|$)", referer)
    return match.group(1) if match else None


def _unauthorized() -> Response:
    response = _text(
        401,
        "this board needs its token: open the URL `ainarres web` printed when it started "
        "(…/?token=…); the token is kept in the state directory's web/token",
    )
    response.headers["www-authenticate"] = "Bearer"
    return response


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a client that stays: until cancelled
        return {"type": "http.disconnect"}

    return receive


def _with_headers(send: Send, nonce: str) -> Send:
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    extra = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _nonce(request: Request) -> str:
    return str(request.scope.get("ainarres.nonce", ""))


def _form(request: Request) -> dict[str, str]:
    form = request.scope.get("ainarres.form", {})
    return {str(k): str(v) for k, v in form.items()}


def _hidden_csrf(web: Web) -> str:
    return f'<input type="hidden" name="csrf" value="{web.csrf}">'


def make_app(web: Web) -> ASGIApp:
    """The app behind its guard; the board watcher runs while it is served."""
    from ainarres.board import reads

    async def task_ref(request: Request, ref: str) -> UUID | Response:
        if len(ref) > 64:
            return _text(400, "malformed task id: give the full uuid or its last hex digits")

        def resolve(conn: Connection) -> UUID:
            return reads.resolve_task(conn, ref)

        try:
            return await run_in_threadpool(web.read, resolve)
        except (BadInput, Unavailable):
            raise
        except AinarresError as exc:
            return _text(404, exc.message.replace("`ainarres task list`", "the board"))

    async def board_page(request: Request) -> Response:
        snap = await run_in_threadpool(web.read, reads.board)
        return HTMLResponse(pages.board_page(snap, _nonce(request)))

    async def board_fragment(request: Request) -> Response:
        snap = await run_in_threadpool(web.read, reads.board)
        return HTMLResponse(pages.board_fragment(snap))

    async def tasks_page(request: Request) -> Response:
        rows = await run_in_threadpool(web.read, lambda c: reads.list_tasks(c, None, True, 500))
        return HTMLResponse(pages.tasks_page(rows, _nonce(request)))

    async def task_page(request: Request) -> Response:
        got = await task_ref(request, request.path_params["ref"])
        if isinstance(got, Response):
            return got
        task_id = got

        def gather(conn: Connection) -> Response:
            from ainarres.review import service

            task = reads.show_task(conn, task_id)
            events = list(reversed(reads.events(conn, task_id, None, 200)))
            review, problem = None, None
            if task.head_commit is not None:
                try:
                    with web.diff_lock:
                        review = service.load(web.settings, conn, task, None, shipped=True)
                except AinarresError as exc:
                    problem = exc.message
            form = ""
            if web.allow_actions and task.blocked:
                form = (
                    f'<form method="post" action="/task/{task.id}/unblock">{_hidden_csrf(web)}'
                    '<input name="reason" placeholder="why" required maxlength="2000"> '
                    "<button>unblock</button></form>"
                )
            return HTMLResponse(
                pages.task_page(task, events, review, problem, form, _nonce(request))
            )

        return await run_in_threadpool(web.read, gather)

    async def report_page(request: Request) -> Response:
        from ainarres import report

        built = await run_in_threadpool(web.read, lambda c: report.build(c, canaries=True))
        return HTMLResponse(pages.report_page(built, _nonce(request)))

    async def govern_page(request: Request) -> Response:
        from ainarres.govern.status import standing

        st = await run_in_threadpool(web.read, standing)
        form = ""
        if web.allow_actions:
            form = (
                f'<form method="post" action="/govern/lift">{_hidden_csrf(web)}'
                '<input name="family" placeholder="family" required> '
                '<input name="role" placeholder="role" required> '
                '<input name="reason" placeholder="why" required maxlength="2000"> '
                "<button>lift denial</button></form>"
            )
        return HTMLResponse(pages.govern_page(st, form, _nonce(request)))

    async def unblock(request: Request) -> Response:
        from ainarres.board import admin

        got = await task_ref(request, request.path_params["ref"])
        if isinstance(got, Response):
            return got
        task_id = got
        reason = _form(request).get("reason", "").strip()
        if not reason:
            return _text(400, "say why: the form needs a reason")
        out = await run_in_threadpool(web.read, lambda c: admin.unblock(c, task_id, reason))
        page = pages.outcome_page("unblock", out, f"/task/{task_id}", _nonce(request))
        return HTMLResponse(page, status_code=200 if out.ok else 409)

    async def lift(request: Request) -> Response:
        from ainarres.board import admin

        form = _form(request)
        family, role = form.get("family", "").strip(), form.get("role", "").strip()
        reason = form.get("reason", "").strip()
        if not (family and role and reason):
            return _text(400, "the form needs a family, a role and a reason")
        out = await run_in_threadpool(web.read, lambda c: admin.lift(c, family, role, reason))
        page = pages.outcome_page("lift", out, "/govern", _nonce(request))
        return HTMLResponse(page, status_code=200 if out.ok else 409)

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            seen = -1
            beat = time.monotonic()
            while not web.stop.is_set():
                if web.version != seen and web.shape:
                    seen = web.version
                    beat = time.monotonic()
                    yield f"data: {web.shape}\n\n"
                elif time.monotonic() - beat > 15:
                    beat = time.monotonic()
                    yield ": still here\n\n"
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AinarresError)
        status = 400 if isinstance(exc, BadInput) else 503 if isinstance(exc, Unavailable) else 500
        return _text(status, exc.message)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher = threading.Thread(target=web.watch, name="ainarres-web-watch", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            web.stop.set()

    routes = [
        Route("/", board_page),
        Route("/fragment/board", board_fragment),
        Route("/events", events),
        Route("/tasks", tasks_page),
        Route("/task/{ref}", task_page),
        Route("/task/{ref}/unblock", unblock, methods=["POST"]),
        Route("/report", report_page),
        Route("/govern", govern_page),
        Route("/govern/lift", lift, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={AinarresError: errors}, lifespan=lifespan)
    return Guard(app, web)
