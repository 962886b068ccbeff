"""A real browser on the real app: `streamlit run app.py` on 127.0.0.1, Debian's headless Chromium
driven over the DevTools protocol (websocket; no chromedriver needed). Opens every page, saves a
screenshot of each under reports/screens/, votes once through the UI and finds the vote in SQLite.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_app_project import copy_project, template_project
from websockets.sync.client import connect

from sanchaek.app.main import PAGES

REPO = Path(__file__).resolve().parents[1]
SCREENS = REPO / "reports" / "screens"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = (1400, 1600)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make setup installs it)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def process(args: list[str], **kw):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands by id, events ignored."""

    def __init__(self, ws):
        self.ws = ws  # a websockets.sync client connection
        self.last_id = 0

    def call(self, method: str, **params):
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"JS failed: {result['exceptionDetails'].get('text')} in {expression[:80]}")
        return result["result"].get("value")

    def click_at(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def click(self, finder_js: str, what: str) -> None:
        """Real mouse click at the centre of the element the JS expression returns."""
        box = wait_until(
            lambda: self.js(
                f"(() => {{ const el = {finder_js}; if (!el || el.disabled) return null;"
                " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
                " return r.width ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()"
            ),
            30,
            what,
        )
        self.click_at(*box)

    def text(self) -> str:
        return self.js("document.body.innerText") or ""

    def idle(self) -> None:
        """Wait until Streamlit has finished running the script (its status widget is gone)."""

        def settled() -> bool:
            running = self.js("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
            skeleton = self.js("!!document.querySelector('[data-testid=\"stSkeleton\"]')")
            return not running and not skeleton

        wait_until(settled, 60, "the app to finish running")
        time.sleep(0.3)
        wait_until(settled, 60, "the app to finish running")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def button_js(label: str) -> str:
    return f"[...document.querySelectorAll('button')].find(b => b.innerText.includes({json.dumps(label)}))"


def test_every_page_in_chromium_and_one_vote(tmp_path_factory, tmp_path):
    root = copy_project(template_project(tmp_path_factory), tmp_path / "proj")
    SCREENS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    streamlit = [
        str(Path(sys.executable).parent / "streamlit"), "run", str(REPO / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = dict(os.environ, SANCHAEK_ROOT=str(root), DVC_NO_ANALYTICS="1")
    profile = tmp_path / "chromium-profile"
    chromium = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank",
    ]  # fmt: skip
    with process(streamlit, cwd=root, env=env) as server, process(chromium) as browser:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{base}/_stcore/health") or server.poll() is not None, 60, "streamlit")
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        active = profile / "DevToolsActivePort"
        wait_until(
            lambda: active.exists() and active.read_text().strip() or browser.poll() is not None,
            30,
            "chromium",
        )
        devtools_port = int(active.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list", timeout=5) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=15) as ws:
            tab = DevTools(ws)
            tab.call("Page.enable")
            tab.call(
                "Emulation.setDeviceMetricsOverride",
                width=VIEWPORT[0],
                height=VIEWPORT[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            for number, (slug, (label, _)) in enumerate(PAGES.items(), start=1):
                tab.call("Page.navigate", url=f"{base}/?page={slug}")
                title = "산책" if slug == "overview" else label.split(" · ")[0]
                wait_until(
                    lambda t=title: t in (tab.js("document.querySelector('h1')?.innerText") or ""),
                    60,
                    f"page {slug}",
                )
                tab.idle()
                assert tab.js("!document.querySelector('[data-testid=\"stException\"]')"), tab.text()[:1000]
                if slug == "rate":
                    _vote_through_the_ui(tab, root)
                tab.screenshot(SCREENS / f"{number:02d}-{slug}.png")
    for number, slug in enumerate(PAGES, start=1):
        assert (SCREENS / f"{number:02d}-{slug}.png").stat().st_size > 10_000


def _vote_through_the_ui(tab: DevTools, root: Path) -> None:
    body = tab.text()
    assert "`fast`" not in body and "— fast" not in body and "— slow" not in body  # blind
    tab.click("document.querySelector('input[aria-label=\"평가자 이름 · your name\"]')", "the rater field")
    tab.call("Input.insertText", text="브라우저")
    for kind in ("keyDown", "keyUp"):
        tab.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
    tab.idle()
    # side A's fluency (column A comes first): its option "4"
    tab.click(
        '[...document.querySelectorAll(\'[role="radiogroup"][aria-label="유창성 fluency"]\')[0]'
        ".querySelectorAll('[data-testid=\"stRadioOption\"]')].find(l => l.innerText.trim() === '4')",
        "score 4",
    )
    tab.idle()
    tab.click(button_js("A가 더 좋다"), "the 'A is better' button")
    wait_until(lambda: "저장했습니다" in tab.text(), 30, "the vote to be stored")
    tab.idle()
    conn = sqlite3.connect(root / "data/ratings.sqlite")
    try:
        votes = conn.execute("SELECT id, rater, winner, exp_a, exp_b FROM votes").fetchall()
        scores = conn.execute("SELECT side, criterion, score FROM scores").fetchall()
    finally:
        conn.close()
    assert len(votes) == 1 and votes[0][1:3] == ("브라우저", "a") and votes[0][3] != votes[0][4]
    assert scores == [("a", "fluency", 4)]
    assert f"A = {votes[0][3]}" in tab.text()  # names revealed after the vote
