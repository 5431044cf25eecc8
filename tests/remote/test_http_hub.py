"""The hub over git's smart HTTP (`git http-backend` behind a small web server): an agent's
`next`, `push` and `done` and the person's `integrate` work with an http:// hub location,
the gate still decides every ref from the push certificate, and a file:// location is the
same hub as its path."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, MAIN, OTHER_IMPLEMENTER, Project, git

from ainarres import project
from ainarres.git.push import push

GIT_ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x.test", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x.test"}  # fmt: skip


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        return None


class _Threaded(WSGIServer):
    daemon_threads = True


def _backend(root: Path) -> Any:
    """A WSGI app that hands each request to `git http-backend` (CGI), as Apache or nginx
    would; REMOTE_USER makes it accept pushes (the gate decides who may push what)."""

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {k: v for k, v in environ.items() if isinstance(v, str) and k.isupper()}
        env.update(PATH=os.environ["PATH"], GIT_PROJECT_ROOT=str(root),
                   GIT_HTTP_EXPORT_ALL="1", REMOTE_USER="agent")  # fmt: skip
        done = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, check=False)  # fmt: skip
        head, _, rest = done.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start(status, headers)
        return [rest]

    return app


@pytest.fixture
def http_hub(proj: Project) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _backend(proj.hub.parent), server_class=_Threaded,
                         handler_class=_Quiet)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{proj.hub.name}"
    finally:
        server.shutdown()
        server.server_close()


def _commit(worktree: Path, name: str) -> str:
    (worktree / name).write_text(f"{name}\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["add", name], ["commit", "-q", "--no-gpg-sign", "-m", f"add {name}"]):
        subprocess.run(["git", *args], cwd=worktree, check=True, env=env, capture_output=True)
    return git(worktree, "rev-parse", "HEAD")


def test_http_hub_agent_loop_and_integrate(proj: Project, http_hub: str) -> None:
    over_http = {"AINARRES_HUB": http_hub}
    task = must(proj.agent(DESIGNER).create_task("over http").task)
    got = proj.board.run("next", "--json", family=IMPLEMENTER, env=over_http)
    assert got.returncode == 0, got.stderr
    worktree = Path(json.loads(got.stdout)["worktree"])
    head = _commit(worktree, "HTTP.md")
    # Another family's signed push of the branch goes through http and the gate refuses it.
    other = push(worktree, http_hub, [f"{head}:refs/heads/{task.branch}"],
                 key=project.family_key(proj.board.settings, OTHER_IMPLEMENTER), signed=True,
                 options=["ainarres-epoch=1"])  # fmt: skip
    assert not other.ok and any("held by" in line for line in other.remote_lines), other
    for verb in ("push", "done"):
        done = proj.board.run(verb, task.short_id, family=IMPLEMENTER, env=over_http)
        assert done.returncode == 0, (verb, done.stderr)
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head
    reviewer = proj.agent("grok+grok-build")
    claim = reviewer.claim_next()
    assert must(claim.task).id == task.id
    assert reviewer.advance(task.id, must(claim.epoch), head).ok
    before = proj.hub_ref(MAIN)
    shipped = proj.board.run("integrate", "--family", INTEGRATOR, "--no-checks", env=over_http)
    assert shipped.returncode == 0, shipped.stderr
    main = proj.hub_ref(MAIN)
    assert main != before and git(proj.hub, "rev-parse", f"{main}^2") == head


def test_http_hub_file_url_is_the_same_hub(proj: Project) -> None:
    as_url = {"AINARRES_HUB": f"file://{proj.hub}"}
    task = must(proj.agent(DESIGNER).create_task("over file://").task)
    got = proj.board.run("next", "--json", family=IMPLEMENTER, env=as_url)
    assert got.returncode == 0, got.stderr
    head = _commit(Path(json.loads(got.stdout)["worktree"]), "FILE.md")
    pushed = proj.board.run("push", task.short_id, family=IMPLEMENTER, env=as_url)
    assert pushed.returncode == 0, pushed.stderr
    assert proj.hub_ref(f"refs/heads/{task.branch}") == head
    shown = proj.board.run("hub", "show", "--json", env=as_url)
    assert json.loads(shown.stdout) == {"url": str(proj.hub), "path": str(proj.hub)}


def test_http_hub_that_is_down_exits_4(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("nobody home").task)
    down = {"AINARRES_HUB": "http://127.0.0.1:9/hub.git"}  # the discard port: nothing listens
    got = proj.board.run("next", "--json", family=IMPLEMENTER, env=down)
    assert got.returncode == 4, (got.stdout, got.stderr)
    assert "cannot reach the hub" in got.stderr and "ainarres hub show" in got.stderr
    del task
