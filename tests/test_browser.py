"""A real browser on the real app: `streamlit run app.py` on 127.0.0.1, Debian's headless Chromium
driven over the DevTools protocol (websocket; no chromedriver needed). One server and one browser
for the module (the machine is small): every page renders (a screenshot of each under
reports/screens/), the runs table with three experiments, a rater finishing their queue with the
keyboard, a flagged sample leaving the ranking, an over-long query, the full-passage view.
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
from dataclasses import dataclass
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
        """Wait until Streamlit has finished running the script (stApp's script state, no skeleton)."""

        def settled() -> bool:
            return self.js(
                "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
                " && !document.querySelector('[data-testid=\"stSkeleton\"]')"
            )

        wait_until(settled, 60, "the app to finish running")
        time.sleep(0.3)  # a rerun that a widget triggers starts a moment later
        wait_until(settled, 60, "the app to finish running")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def button_js(label: str) -> str:
    return f"[...document.querySelectorAll('button')].find(b => b.innerText.includes({json.dumps(label)}))"


# Three runs answer one prompt in the workspace's samples: three pairs, every two sharing a sample.
RATE_SAMPLES = [
    {"prompt": "강둑을 따라 걸었다.", "theme": "산책", "experiment": run,
     "text": f"[{run}] 물비린내가 올라왔다. 나는 {run}번째 다리 앞에서 어머니의 목소리를 떠올렸다."}
    for run in ("P", "Q", "R")
]  # fmt: skip
RATE_PARAMS = (
    "ratings:\n  min_comparisons: 1\n  include_experiment_samples: {include}\n  dvc_cache_ttl_s: 600\n"
)


@dataclass
class App:
    root: Path
    base: str
    tab: DevTools

    def open(self, slug: str) -> None:
        self.tab.call("Page.navigate", url=f"{self.base}/?page={slug}")
        title = "산책" if slug == "overview" else PAGES[slug][0].split(" · ")[0]
        wait_until(
            lambda: title in (self.tab.js("document.querySelector('h1')?.innerText") or ""),
            60,
            f"page {slug}",
        )
        self.tab.idle()
        self.no_traceback()

    def no_traceback(self) -> None:
        assert self.tab.js("!document.querySelector('[data-testid=\"stException\"]')"), self.tab.text()[:1000]

    def type_into(self, label: str, text: str) -> None:
        self.tab.click(f"document.querySelector('input[aria-label={json.dumps(label)}]')", label)
        self.tab.js(f"document.querySelector('input[aria-label={json.dumps(label)}]').select()")
        self.tab.call("Input.insertText", text=text)
        self.key("Enter", 13)
        self.tab.idle()

    def key(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.tab.call(
                "Input.dispatchKeyEvent", type=kind, key=key, code=f"Digit{key}" if key.isdigit() else key,
                windowsVirtualKeyCode=code, text=key if kind == "keyDown" and len(key) == 1 else "",
            )  # fmt: skip


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> App:
    tmp = tmp_path_factory.mktemp("browser")
    root = copy_project(template_project(tmp_path_factory), tmp / "proj")
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1"
    )
    subprocess.run(["dvc", "exp", "run", "-q", "-S", "fixture.yaml:lr=0.003", "-n", "mid"], cwd=root, env=env,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    SCREENS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    streamlit = [
        str(Path(sys.executable).parent / "streamlit"),
        "run",
        str(REPO / "app.py"),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
    ]  # fmt: skip  (no --server.address: .streamlit/config.toml must bind 127.0.0.1)
    shutil.copytree(REPO / ".streamlit", root / ".streamlit", dirs_exist_ok=True)
    env["SANCHAEK_ROOT"] = str(root)
    profile = tmp / "chromium-profile"
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
            yield App(root, base, tab)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in list(fh)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_every_page_renders_and_the_server_listens_on_loopback_only(app):
    port = int(app.base.rsplit(":", 1)[1])
    assert listening_addresses(port) <= {"0100007F"}, listening_addresses(port)  # 127.0.0.1 only
    for number, slug in enumerate(PAGES, start=1):
        app.open(slug)
        app.tab.screenshot(SCREENS / f"{number:02d}-{slug}.png")
    for number, slug in enumerate(PAGES, start=1):
        assert (SCREENS / f"{number:02d}-{slug}.png").stat().st_size > 10_000


def test_runs_table_with_three_experiments(app):
    app.open("training")
    head = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=app.root, capture_output=True, text=True
    )
    # the grid draws on a canvas; its accessible table mirrors the cells, a moment after the script ends
    rows_js = (
        "[...document.querySelectorAll('[data-testid=\"stDataFrame\"] table [role=row]')]"
        ".map(r => [...r.children].map(c => c.innerText.trim()))"
    )
    grid = wait_until(lambda: (g := app.tab.js(rows_js)) and len(g) > 1 and g, 30, "the runs table's rows")
    rows = [cells[0] for cells in grid[1:]]
    assert sorted(rows) == sorted([f"main@{head.stdout.strip()}", "fast", "slow", "mid"]), grid
    body = app.tab.text()
    assert "workspace" not in " ".join(rows) and "Train metrics of mid" in body
    app.tab.screenshot(SCREENS / "runs-table.png")


def _rate_with(app: App, include: bool) -> None:
    (app.root / "params.yaml").write_text(RATE_PARAMS.format(include=str(include).lower()))
    if not include:
        (app.root / "reports/samples.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RATE_SAMPLES)
        )


def _db(app: App, sql: str) -> list:
    conn = sqlite3.connect(app.root / "data/ratings.sqlite")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_rater_finishes_the_queue_with_the_keyboard(app):
    _rate_with(app, include=False)
    app.open("rate")
    assert "A가 더 좋다" not in app.tab.text()  # no pair before the rater is known
    app.type_into("평가자 이름 · your name", "브라우저")
    for n in range(3):
        wait_until(lambda n=n: f"{n} / 3" in app.tab.text(), 30, f"progress {n} / 3")
        if n == 0:
            assert "A = " not in app.tab.text()  # the runs are revealed only after a vote
        app.tab.js("document.activeElement && document.activeElement.blur()")
        app.key("1", 49)  # shortcut: A is better
        app.tab.idle()
    wait_until(lambda: "done: you judged all 3 pairs" in app.tab.text(), 30, "the done state")
    app.no_traceback()
    app.tab.screenshot(SCREENS / "rate-done.png")
    votes = _db(app, "SELECT rater, winner, sample_a, sample_b FROM votes")
    assert len(votes) == 3 and {v[:2] for v in votes} == {("브라우저", "a")}
    assert len({frozenset(v[2:]) for v in votes}) == 3  # three different pairs


def test_a_flagged_sample_leaves_the_ranking(app):
    _rate_with(app, include=False)
    app.open("rate")
    app.type_into("평가자 이름 · your name", "두번째")
    # the rerun that the name starts can begin late on a loaded machine: a click before it is lost
    wait_until(lambda: "0 / 3" in app.tab.text(), 30, "the rater's first pair")
    app.tab.idle()
    app.tab.click(button_js("A가 더 좋다"), "A is better")
    wait_until(lambda: "1 / 3" in app.tab.text(), 30, "the first vote")
    first = _db(app, "SELECT text_a, text_b FROM votes WHERE rater = '두번째'")[0]
    markers = {t[1] for t in first}  # '[P]' -> 'P'
    columns = app.tab.js("[...document.querySelectorAll('[data-testid=\"stColumn\"]')].map(c => c.innerText)")
    side = next(
        s
        for s, col in zip("AB", [c for c in columns if "[" in c][:2], strict=True)
        if col[col.index("[") + 1] in markers
    )
    before = _db(app, "SELECT COUNT(*) FROM votes")[0][0]
    app.tab.click(button_js(f"{side} 깨진 샘플"), f"flag {side}")
    wait_until(lambda: "Flagged samples (1)" in app.tab.text(), 30, "the flagged list")
    app.no_traceback()
    body = app.tab.text()
    left_out = int(body.split(" votes with a flagged sample left out")[0].rsplit("· ", 1)[-1])
    assert left_out >= 1 and f"투표 {before - left_out} ·" in body
    app.tab.screenshot(SCREENS / "rate-flagged.png")


def test_an_over_long_query_is_cut_with_a_note(app):
    app.open("search")
    app.type_into("주제어 · theme word", " ".join(f"골목{i}" for i in range(900)))
    wait_until(lambda: "searched its first" in app.tab.text(), 30, "the note")
    app.no_traceback()
    app.tab.screenshot(SCREENS / "search-long-query.png")


def test_the_full_passage_view(app):
    app.open("search")
    app.type_into("주제어 · theme word", "담대하다")
    app.tab.click(
        "[...document.querySelectorAll('summary')].find(s => s.innerText.includes('p3'))", "the p3 expander"
    )
    wait_until(lambda: "CC-BY-SA-4.0" in app.tab.text(), 30, "the passage card")
    time.sleep(0.5)  # the expander's opening animation
    body = app.tab.text()
    assert "다른 작가" in body and "1948" in body and "수필" in body
    assert "골목 끝에서 옛 친구를 생각했다." in body
    app.tab.screenshot(SCREENS / "search-passage.png")
