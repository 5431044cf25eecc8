"""`ainarres web`: the real command in a subprocess against a real board and hub.

A headless Chromium (the system's, driven by Playwright; nothing downloaded) sees the board
change live and a task's diff with its annotation inline; plain HTTP requests are refused
without the token, with a wrong one, with a foreign Host, a POST without --allow-actions,
a POST without the CSRF value or from a foreign origin, an oversized body, each changing
nothing on the board."""

from __future__ import annotations

import html
import http.client
import os
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from uuid import UUID

import pytest
from boardenv import must
from scenario import DESIGNER, IMPLEMENTER, INTEGRATOR, REVIEWER, Project, git

from ainarres.board import admin
from ainarres.web.app import load_or_make_token, token_file

CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Served:
    url: str  # as printed: http://127.0.0.1:PORT/?token=...
    port: int
    token: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One request, no redirects followed: (status, headers (lower-case), body text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            text = resp.read().decode()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
        finally:
            conn.close()

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cookie(self) -> dict[str, str]:
        """The cookie the token URL sets (checked: HttpOnly, SameSite=Strict)."""
        status, headers, _ = self.call("GET", f"/?token={self.token}")
        assert status == 303 and headers["location"] == "/"
        set_cookie = headers["set-cookie"]
        assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()
        # The cookie is this run's session, never the token: a cookie reaches every port of
        # 127.0.0.1 (a tool's server too), the token must not.
        assert self.url.split("token=", 1)[1] not in set_cookie
        return {"Cookie": set_cookie.split(";", 1)[0]}


@contextmanager
def served(proj: Project, *flags: str) -> Iterator[Served]:
    """`python -m ainarres web --port 0 FLAGS` until the block ends (then Ctrl-C)."""
    env = {
        **os.environ,
        "AINARRES_HOME": str(proj.board.settings.state_dir),
        "AINARRES_DATABASE_URL": proj.board.url,
    }
    with subprocess.Popen(
        [sys.executable, "-m", "ainarres", "web", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            line = proc.stdout.readline().strip() if ready else ""
            match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", line)
            assert match, f"no URL printed: {line!r}"
            yield Served(line, int(match.group(1)), match.group(2))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                pytest.fail("`ainarres web` did not stop on Ctrl-C within 15 s")
        assert "Traceback" not in err, err


def in_review(proj: Project, name: str = "web.txt") -> tuple[UUID, str, int]:
    """A task implemented (writing `name`: two lines) and claimed by the reviewer, with an
    annotation on its second line: (task, short id, reviewer's epoch)."""
    task = must(proj.agent(DESIGNER).create_task(f"add {name}").task)
    impl = proj.agent(IMPLEMENTER)
    claimed = impl.claim_next()
    assert claimed.epoch is not None
    head = proj.commit_on(task.branch, name, "hello\nworld <script>alert(1)</script>\n")
    assert impl.set_base(task.id, claimed.epoch, git(proj.clone, "rev-parse", "HEAD~1")).ok
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claimed.epoch).ok
    assert impl.advance(task.id, claimed.epoch, head).ok
    review = proj.agent(REVIEWER).claim_next()
    assert review.epoch is not None
    out = proj.agent(REVIEWER).annotate(
        task.id, review.epoch, name, 2, "new", "major", "<b>too loud</b> & <i>evil</i>"
    )
    assert out.ok, out.message
    return task.id, task.short_id, review.epoch


def test_browser_sees_the_board_live_and_a_diff_with_its_annotation(
    proj: Project, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no system Chromium at {CHROMIUM} (Debian's chromium package); "
                    "nothing is downloaded")  # fmt: skip
    from playwright.sync_api import expect, sync_playwright

    task, short, epoch = in_review(proj)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with served(proj) as web, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(web.url)
            assert page.url == f"{web.base}/"  # the token left the address bar
            expect(page.locator("#live-status")).to_have_text("live", timeout=20000)
            live = page.locator("#live")
            assert f"{short} [reviewing] {REVIEWER} age " in live.inner_text()
            assert "review 1 (1 held)" in page.locator("#stages").inner_text()
            page.evaluate("window.stillThisPage = true")
            page.screenshot(path=shots / "board-reviewing.png", full_page=True)

            # The reviewer approves through the board; the page follows without a reload.
            assert proj.agent(REVIEWER).advance(task, epoch).ok
            # Within the watcher's 5 s look (no agent waits, so no NOTIFY comes).
            expect(live).not_to_contain_text("[reviewing]", timeout=20000)
            assert "integrate 1" in page.locator("#stages").inner_text()
            assert page.evaluate("window.stillThisPage") is True
            page.screenshot(path=shots / "board-integrate.png", full_page=True)
            integrated = proj.board.run("integrate", "--family", INTEGRATOR)
            assert integrated.returncode == 0, integrated.stderr
            expect(page.locator("#stages")).to_contain_text("shipped 1", timeout=20000)
            assert page.evaluate("window.stillThisPage") is True

            page.goto(f"{web.base}/task/{task}")
            note = page.locator("td.note")
            assert note.count() == 1
            assert note.inner_text() == f"[major] {REVIEWER}: <b>too loud</b> & <i>evil</i>"
            assert page.locator("td.note b").count() == 0  # shown, not obeyed
            line_above = note.evaluate("n => n.parentElement.previousElementSibling.textContent")
            assert "world <script>alert(1)</script>" in line_above
            assert page.evaluate("typeof window.alert") == "function"
            page.screenshot(path=shots / "task.png", full_page=True)

            page.goto(f"{web.base}/report")
            assert (
                "cross-maker review: 1/1 shipped tasks" in page.locator("#cross-maker").inner_text()
            )
            bars = page.locator("#chart rect title").all_text_contents()
            assert bars[:2] == ["all cross-maker: 1", "all same-maker: 0"]
            assert f"{IMPLEMENTER} cross-maker: 1" in bars
            page.screenshot(path=shots / "report.png", full_page=True)
            page.goto(f"{web.base}/govern")
            page.screenshot(path=shots / "govern.png", full_page=True)
        finally:
            browser.close()
    for name in ("board-reviewing", "board-integrate", "task", "report", "govern"):
        png = shots / f"{name}.png"
        assert png.stat().st_size > 1000, png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_door_needs_the_token_and_the_host(proj: Project) -> None:
    task, short, _ = in_review(proj)
    before = proj.board.snapshot()
    with served(proj) as web:
        path = token_file(proj.board.settings.state_dir)
        assert path.read_text().strip() == web.token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for where in ("/", "/report", "/govern", f"/task/{task}", "/events", "/tasks"):
            status, _, text = web.call("GET", where)
            assert status == 401, where
            assert "ainarres web" in text
        assert web.call("GET", "/?token=" + "x" * 43)[0] == 401
        assert web.call("GET", "/", {"Authorization": "Bearer " + "x" * 43})[0] == 401
        assert web.call("GET", "/", {"Cookie": f"ainarres_web_{web.port}=" + "x" * 43})[0] == 401
        wrong_host = {**web.bearer, "Host": f"attacker.example:{web.port}"}
        assert web.call("GET", "/", wrong_host)[0] == 400
        assert web.call("GET", "/", {**web.bearer, "Host": "127.0.0.1:1"})[0] == 400

        status, headers, text = web.call("GET", "/", web.bearer)
        assert status == 200
        assert f"[reviewing] {REVIEWER} age " in text
        assert "script-src 'nonce-" in headers["content-security-policy"]
        assert "<form" not in text
        status, _, text = web.call("GET", "/", web.cookie())
        assert status == 200 and short in text
        status, headers, _ = web.call("GET", f"//attacker.example/x?a=1&token={web.token}")
        assert status == 303 and headers["location"] == "/attacker.example/x?a=1"

        # The board's lines are the CLI's (`ainarres board`), ages aside.
        cli = proj.board.run("board")
        assert cli.returncode == 0, cli.stderr
        lines = [ln[2:] for ln in cli.stdout.splitlines() if ln.startswith("- ")]
        assert lines and all(" age " in ln for ln in lines)
        shown = re.sub(r"<[^>]+>", "", web.call("GET", "/fragment/board", web.bearer)[2])
        for ln in lines:
            assert re.sub(r" age \S+", "", ln) in re.sub(r" age \S+", "", html.unescape(shown))

        # Read-only: every POST is refused, whatever it carries.
        form = b"reason=go&csrf=whatever"
        origin = {"Origin": web.base, "Content-Type": "application/x-www-form-urlencoded"}
        for where in (f"/task/{task}/unblock", "/govern/lift", "/"):
            status, _, _ = web.call("POST", where, {**web.cookie(), **origin}, form)
            assert status == 405, where

        status, _, text = web.call("GET", "/task/not-an-id!", web.bearer)
        assert status == 400 and "malformed task id" in text
        assert web.call("GET", "/task/" + "f" * 65, web.bearer)[0] == 400
        status, _, text = web.call("GET", "/task/00000000-0000-4000-8000-000000000000", web.bearer)
        assert status == 404 and "no task" in text
        # A suffix no task ends in: 404 too (retry with another if this one exists).
        known = str(task).replace("-", "")
        suffix = next(s for s in ("abcdef12", "12345678") if not known.endswith(s))
        assert web.call("GET", f"/task/{suffix}", web.bearer)[0] == 404
        status, _, text = web.call("GET", f"/task/{short.lstrip('…')}", web.bearer)
        assert status == 200 and "&lt;b&gt;too loud&lt;/b&gt;" in text and "<b>too" not in text
        assert (
            web.call("GET", "/", {**web.bearer, "Content-Length": "20000"}, b"x" * 20000)[0] == 413
        )
    assert proj.board.snapshot() == before


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)
    assert match, "no form with a CSRF value on the page"
    return match.group(1)


def test_actions_need_cookie_csrf_and_origin(proj: Project) -> None:
    task = must(proj.agent(DESIGNER).create_task("a task to block").task)
    impl = proj.agent(IMPLEMENTER)
    claimed = impl.claim_next()
    assert claimed.epoch is not None
    assert impl.block(task.id, claimed.epoch, "needs a person <now>").ok
    with proj.board.operator() as conn:
        assert admin.deny(conn, REVIEWER, "reviewer", "too many overturned", None).ok
    with served(proj, "--allow-actions") as web:
        cookie = web.cookie()
        status, _, page = web.call("GET", f"/task/{task.id}", cookie)
        assert status == 200 and "needs a person &lt;now&gt;" in page
        csrf = _csrf(page)
        assert _csrf(web.call("GET", "/govern", cookie)[2]) == csrf
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        good = {**cookie, **form, "Origin": web.base}
        unblock = f"/task/{task.id}/unblock"

        before = proj.board.snapshot()
        refused: list[tuple[dict[str, str], bytes, int]] = [
            (good, b"reason=go&csrf=" + b"0" * 64, 403),  # a wrong CSRF value
            (good, b"reason=go", 403),  # none
            ({**good, "Origin": "http://attacker.example"}, f"reason=go&csrf={csrf}".encode(), 403),
            ({**cookie, **form}, f"reason=go&csrf={csrf}".encode(), 403),  # no Origin, no Referer
            (
                {**cookie, **form, "Referer": "http://attacker.example/x"},
                f"reason=go&csrf={csrf}".encode(),
                403,
            ),
            ({**web.bearer, **form, "Origin": web.base}, f"reason=go&csrf={csrf}".encode(), 403),
            ({**form, "Origin": web.base}, f"reason=go&csrf={csrf}".encode(), 401),  # no token
            (good, f"csrf={csrf}&reason=".encode() + b"x" * 17000, 413),
        ]
        for headers, body, expected in refused:
            status, _, _ = web.call("POST", unblock, headers, body)
            assert status == expected, (headers, body[:40])
            assert proj.board.snapshot() == before
        lift = (
            urlencode({"family": REVIEWER, "role": "reviewer", "reason": "ok"}).encode() + b"&csrf="
        )
        status, _, _ = web.call(
            "POST", "/govern/lift", {**good, "Origin": "null"}, lift + csrf.encode()
        )
        assert status == 403
        assert web.call("POST", "/govern/lift", good, lift + b"f" * 64)[0] == 403
        assert proj.board.snapshot() == before

        status, _, text = web.call("POST", unblock, good, f"reason=seen+it&csrf={csrf}".encode())
        assert status == 200 and "ok:" in text, text
        referer = {**cookie, **form, "Referer": f"{web.base}/govern"}
        status, _, text = web.call("POST", "/govern/lift", referer, lift + csrf.encode())
        assert status == 200 and "ok:" in text, text
        # Done again: the board refuses, the page says so.
        status, _, text = web.call("POST", unblock, good, f"reason=again&csrf={csrf}".encode())
        assert status == 409
    with proj.board.operator() as conn:
        from ainarres.board import reads
        from ainarres.govern.status import standing

        assert not reads.show_task(conn, task.id).blocked
        assert not [d for d in standing(conn).denials if d.family == REVIEWER]


def _next_data(resp: http.client.HTTPResponse) -> str:
    """The next `data:` line of a server-sent event stream."""
    while True:
        line = resp.fp.readline().decode()
        assert line, "the event stream ended"
        if line.startswith("data: "):
            return line[6:].strip()


def test_events_follow_a_notify_at_once_and_ctrl_c_ends_open_streams(proj: Project) -> None:
    """With the periodic look a minute apart, a change the board NOTIFYs (an agent waits)
    reaches /events within seconds; and Ctrl-C stops the server with a stream still open."""
    task = must(proj.agent(DESIGNER).create_task("add notify.txt").task)
    impl = proj.agent(IMPLEMENTER)
    claimed = impl.claim_next()
    assert claimed.epoch is not None
    head = proj.commit_on(task.branch, "notify.txt", "n\n")
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claimed.epoch).ok
    reviewer = proj.agent(REVIEWER)
    woke: list[str] = []
    sleeper = threading.Thread(
        target=lambda: woke.append(reviewer.wait_for_claim(timeout=30, poll=30).outcome)
    )
    with served(proj, "--check-every", "60") as web:
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=20)
        conn.request("GET", "/events", headers=web.bearer)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-type", "").startswith(
            "text/event-stream"
        )
        first = _next_data(resp)
        sleeper.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the reviewer sleeps on the board
            with proj.board.operator() as op:
                row = op.execute(
                    b"SELECT count(*) AS n FROM ainarres.agents WHERE waiting_since IS NOT NULL"
                ).fetchone()
            if row and row["n"]:
                break
            time.sleep(0.1)
        started = time.monotonic()
        assert impl.advance(task.id, claimed.epoch, head).ok
        assert _next_data(resp) != first
        assert time.monotonic() - started < 10  # the NOTIFY, not the minute's look
        sleeper.join(timeout=30)
        assert woke == ["ok"]
        # The stream stays open while `served` sends Ctrl-C: the server must still stop.
    conn.close()


def test_the_token_is_kept_private_and_reused(tmp_path: Path) -> None:
    state = tmp_path / ".ainarres"
    token = load_or_make_token(state)
    path = token_file(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_make_token(state) == token  # a restart keeps the printed URL working
    path.chmod(0o644)  # readable by others: no longer a secret, so a new one is made
    fresh = load_or_make_token(state)
    assert fresh != token and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")
    assert load_or_make_token(state) not in (fresh, "short")


def test_a_huge_diff_is_cut_and_its_annotation_still_shown(proj: Project) -> None:
    """A push of a few compressed MB can unpack to a huge diff: the page stops at
    MAX_DIFF_LINES and says where the rest is; annotations are placed by lookup."""
    from ainarres.web.pages import MAX_DIFF_LINES

    task = must(proj.agent(DESIGNER).create_task("add big.txt").task)
    impl = proj.agent(IMPLEMENTER)
    claimed = impl.claim_next()
    assert claimed.epoch is not None
    text = "".join(f"line {i}\n" for i in range(MAX_DIFF_LINES * 2))
    head = proj.commit_on(task.branch, "big.txt", text)
    assert proj.push(f"HEAD:refs/heads/{task.branch}", IMPLEMENTER, epoch=claimed.epoch).ok
    assert impl.advance(task.id, claimed.epoch, head).ok
    review = proj.agent(REVIEWER).claim_next()
    assert review.epoch is not None
    assert proj.agent(REVIEWER).annotate(task.id, review.epoch, "big.txt", 3, "new", "nit",
                                         "third").ok  # fmt: skip
    with served(proj) as web:
        status, _, page = web.call("GET", f"/task/{task.id}", web.bearer)
    assert status == 200
    assert f"the diff is cut at {MAX_DIFF_LINES} lines" in page
    assert f"line {MAX_DIFF_LINES - 2}" in page and f"line {MAX_DIFF_LINES + 10}" not in page
    assert "third" in page
