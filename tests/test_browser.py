"""Scorecards and the leaderboard in a real browser: headless Chromium (Debian's ``chromium``; ``.ci/run`` installs
it) loads the pages from ``file://``, driven over the DevTools protocol on a local websocket. It checks the
expected elements, that the verdict filter and the table sorting work, that nothing overflows the page, that no
script from a hostile report ran (and that one slipped into the page would be blocked by the policy), and saves
screenshots as test artifacts in ``$DREVAL_TEST_ARTIFACTS`` (default: ``<tmp>/dreval-test-artifacts``)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from drevalkit.cli import main

from .support import SAMPLES, score_samples

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs a headless Chromium: apt-get install -y chromium (.ci/run installs it, so CI runs this test)",
)
ARTIFACTS = Path(os.environ.get("DREVAL_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "dreval-test-artifacts"))

HOSTILE_LINES = """
<script>document.title = "pwned"; document.body.setAttribute("data-pwned", "script")</script>
<img src="x" onerror="document.body.setAttribute('data-pwned', 'onerror')">
<svg onload="document.body.setAttribute('data-pwned', 'svg')"></svg>
[click me](javascript:document.body.setAttribute('data-pwned','link')) and [data](data:text/html,<script>alert(1)</script>)
<iframe src="javascript:parent.document.body.setAttribute('data-pwned','frame')"></iframe>
</article></main><script>document.body.setAttribute("data-pwned", "breakout")</script>

# {long}
"""


def wait_until(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy (returned), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return found


class DevTools:
    """A minimal client of the Chrome DevTools protocol over a websocket (RFC 6455, text frames)."""

    def __init__(self, url: str):
        match = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        assert match, url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            assert chunk, "the browser closed the connection"
            response += chunk
        assert response.split(b"\r\n", 1)[0].split()[1] == b"101", response
        self.buffer = response.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "the browser closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _receive(self) -> dict:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode in (0x9, 0xA):  # ping, pong
                continue
            assert opcode != 0x8, "the browser closed the websocket"
            message += payload
            if first & 0x80:
                return json.loads(message)

    def call(self, method: str, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(index)
            self.events.append(self._receive())
        raise TimeoutError(event)

    def wait_for_console(self, text: str, timeout: float = 30.0) -> None:
        """Wait until the page has logged a message holding ``text`` (kept in ``events`` for ``console``)."""
        deadline = time.monotonic() + timeout
        while not any(text in logged for logged in self.console()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no console message with {text!r} in {timeout} s: {self.console()}")
            self.events.append(self._receive())

    def settle(self) -> None:
        """Wait for the page's positive signal that it is done: loaded (readyState complete), then two turns of its
        event loop, so every task queued by the page while it loaded (handlers, timers of 0 ms) has run."""
        result = self.call(
            "Runtime.evaluate",
            expression=(
                "new Promise(resolve => { const turns = () => setTimeout(() => setTimeout(() => "
                "resolve(document.readyState), 0), 0); document.readyState === 'complete' ? turns() : "
                "addEventListener('load', turns, {once: true}); })"
            ),
            awaitPromise=True,
            returnByValue=True,
        )
        assert "exceptionDetails" not in result, result
        assert result["result"].get("value") == "complete", result

    def open(self, path: Path, fragment: str = "") -> None:
        self.events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri() + fragment)
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def screenshot(self, name: str, width: int = 1280) -> Path:
        height = min(int(self.js("document.documentElement.scrollHeight")), 16000)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / name
        target.write_bytes(base64.b64decode(data))
        return target

    def console(self) -> list[str]:
        texts = []
        for message in self.events:
            params = message.get("params", {})
            if message.get("method") == "Log.entryAdded":
                texts.append(params["entry"].get("text", ""))
            elif message.get("method") == "Runtime.consoleAPICalled":
                texts.extend(str(a.get("value", "")) for a in params.get("args", []))
        return texts


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = profile / "chromium.log"  # a file, not a pipe: chromium writes a lot and would block on a full pipe
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:

        def listening() -> int | None:
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace"))
            if found is None and process.poll() is not None:
                pytest.fail(f"chromium exited with {process.returncode}: {log.read_text()[-2000:]}")
            return int(found.group(1)) if found else None

        port = wait_until(listening, timeout=60, what="chromium to open its DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            tools.call(domain)
        tools.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        yield tools
        tools.sock.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Three systems scored by the real pipeline on the sample task: the sample report, a shorter one and a
    hostile one; then the leaderboard of the folder."""
    work = tmp_path_factory.mktemp("site")
    text = (SAMPLES / "report.md").read_text()
    reports = work / "reports"
    reports.mkdir()
    plain, short, evil = reports / "plain.md", reports / "short.md", reports / "evil.md"
    plain.write_text(text)
    short.write_text(text.split("## Scientific", 1)[0] + "## References" + text.split("## References", 1)[1])
    head, tail = text.split("\n\n", 1)
    evil.write_text(head + "\n\n" + HOSTILE_LINES.format(long="L" * 700) + "\n\n" + tail)
    score_samples(work, (plain, "sample-agent"), (short, "short-agent"), (evil, "evil-agent"))
    out = work / "out"
    result = CliRunner().invoke(main, ["leaderboard", str(out), "--allow-mixed"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _card_page(out: Path, system: str) -> Path:
    return out / "html" / system / "jwst-first-years.html"


def test_scorecard_in_a_browser(browser, site):
    page = _card_page(site, "sample-agent")
    browser.open(page)
    assert browser.js("document.title") == "dreval scorecard: sample-agent / jwst-first-years"
    assert browser.js("document.querySelectorAll('script').length") == 0
    assert browser.js("document.querySelectorAll('svg.chart rect.bar-general').length") == 4
    assert browser.js("document.querySelectorAll('svg.chart rect.bar-specific').length") >= 1
    assert browser.js("document.querySelector('svg.chart').getBoundingClientRect().height") > 100
    rows = browser.js("document.querySelectorAll('tr.claim').length")
    wrong = browser.js("document.querySelectorAll('tr.claim.v-wrong').length")
    assert rows >= 10 and wrong >= 1
    assert browser.js("document.querySelectorAll('#report-text mark.hl[id]').length") >= 0.8 * rows
    assert browser.js("document.querySelectorAll('#report-text mark.v-wrong').length") >= 1
    assert browser.js("document.querySelectorAll('#report-text a.cite[href^=\"#ref-\"]').length") >= 10
    assert browser.js(
        "[...document.querySelectorAll('#report-text a.cite')].every("
        "a => document.getElementById(a.getAttribute('href').slice(1)))"
    )
    evidence = browser.js("[...document.querySelectorAll('tr.claim details.ev a')].map(a => a.href)")
    assert evidence and all(href.startswith("https://") for href in evidence)
    # the highlight, the marker on the mark colour and the row link really render as marked text
    assert browser.js("getComputedStyle(document.querySelector('#report-text mark.v-wrong')).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
    browser.screenshot("scorecard.png")
    # the verdict filter (CSS only) hides every row of another verdict
    browser.js("document.querySelector('label[for=vf-wrong]').click()")
    shown = browser.js(
        "[...document.querySelectorAll('tr.claim')].filter(r => getComputedStyle(r).display !== "
        "'none').map(r => r.dataset.verdict)"
    )
    assert shown == ["wrong"] * wrong
    browser.screenshot("scorecard-filter-wrong.png")
    browser.js("document.querySelector('label[for=vf-all]').click()")
    assert (
        browser.js(
            "[...document.querySelectorAll('tr.claim')].filter(r => getComputedStyle(r).display !== 'none').length"
        )
        == rows
    )
    # a highlighted sentence links to its row in the table, which becomes the target
    browser.js("document.querySelector('#report-text a.claim-tag.v-wrong').click()")
    target = browser.js("location.hash")
    assert (
        target.startswith("#claim-") and browser.js(f"document.querySelector('tr{target}').dataset.verdict") == "wrong"
    )
    assert browser.js(f"document.querySelector('tr{target}').matches(':target')")


def test_hostile_report_runs_no_script(browser, site):
    page = _card_page(site, "evil-agent")
    browser.open(page)
    browser.settle()  # loaded, and every handler or timer the page queued while loading has had its turn
    assert browser.js("document.title") == "dreval scorecard: evil-agent / jwst-first-years"
    assert browser.js("document.body.getAttribute('data-pwned')") is None
    assert browser.js("document.querySelectorAll('script, iframe, img, object, embed').length") == 0
    assert browser.js("document.querySelectorAll('svg').length") == 1  # the chart only
    assert browser.js(
        "[...document.querySelectorAll('a[href]')].every(a => /^(https?:|#)/.test(a.getAttribute('href')))"
    )
    assert browser.js(
        "[...document.querySelectorAll('*')].every(e => ![...e.attributes].some(a => a.name.startsWith('on')))"
    )
    text = browser.js("document.getElementById('report-text').innerText")
    assert "<script>" in text and "javascript:document.body" not in browser.js(
        "[...document.querySelectorAll('a')].map(a => a.href).join(' ')"
    )
    assert browser.js("document.querySelectorAll('tr.claim').length") >= 10  # it was really fact-checked
    # a 700-character word in a heading does not push the page sideways
    assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
    browser.screenshot("scorecard-hostile.png")


def test_the_policy_blocks_a_script_that_got_into_the_page(browser, site, tmp_path):
    forged = tmp_path / "forged.html"
    html = _card_page(site, "sample-agent").read_text()
    forged.write_text(
        html.replace(
            "</main>",
            '<script>document.title = "pwned"</script><img src="x" onerror="document.title = \'pwned\'"></main>',
        )
    )
    browser.open(forged)
    browser.wait_for_console("Content Security Policy")  # the browser refused the forged script
    browser.settle()
    assert browser.js("document.title") != "pwned"
    assert any("Content Security Policy" in text for text in browser.console())


def test_leaderboard_in_a_browser(browser, site):
    page = site / "leaderboard.html"
    browser.open(page)
    assert browser.js("document.documentElement.getAttribute('data-sortable')") == "ready"  # our script ran
    assert browser.js("document.querySelectorAll('script').length") == 1
    systems = browser.js("[...document.querySelectorAll('#ranking-table tbody tr')].map(r => r.dataset.system)")
    assert sorted(systems) == ["evil-agent", "sample-agent", "short-agent"]
    assert "percentile bootstrap" in browser.js("document.getElementById('method').innerText")
    assert browser.js("document.querySelectorAll('#ranking-table td .ci').length") >= 6  # intervals and n
    links = browser.js("[...document.querySelectorAll('#task-matrix a.cell')].map(a => a.href)")
    assert len(links) == 3 and all(Path(urllib.request.url2pathname(h[len("file://") :])).is_file() for h in links)
    browser.screenshot("leaderboard.png", width=1400)
    # sorting by a column, both ways, without a server
    column = browser.js(
        "[...document.querySelectorAll('#ranking-table thead th')].findIndex("
        "th => th.innerText.toLowerCase().includes('own tasks'))"
    )
    order = (
        f"[...document.querySelectorAll('#ranking-table tbody tr')].map(r => parseFloat(r.cells[{column}].dataset.v))"
    )
    browser.js(f"document.querySelectorAll('#ranking-table thead th')[{column}].querySelector('button').click()")
    values = browser.js(order)
    assert values == sorted(values, reverse=True)
    browser.js(f"document.querySelectorAll('#ranking-table thead th')[{column}].querySelector('button').click()")
    assert browser.js(order) == sorted(values)
    # a cell links to the system's breakdown, whose cells link to the scorecards
    first = browser.js("document.querySelector('#ranking-table tbody tr td:nth-child(4) a').getAttribute('href')")
    assert (
        first.startswith("#sys-") and browser.js(f"document.querySelectorAll('{first} a[href$=\".html\"]').length") == 1
    )
    browser.open(Path(urllib.request.url2pathname(links[0][len("file://") :])))
    assert browser.js("document.title").startswith("dreval scorecard:")


FORMULA_REPORT = """# Cost and optics

#### Cost arithmetic

The growth factor is \\( g = C_{2021} / C_{1997} \\approx 19.4 \\), and the slip is $t_{launch} - t_{plan} = 14$
years [1]. The diffraction limit follows
\\[ \\theta_{min} = 1.22 \\, \\lambda / D \\]
for a mirror where $x_1 * x_2$ and $a_i b_i$ stay as written [2]. Money stays text: US$0.5 billion, $5 and $10.

References
[1] Cost and schedule. https://jwst-archive.example/cost
[2] Optics and instruments. https://jwst-archive.example/instruments
"""


def _pages_to_check(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A scorecard of a report with formulas, a #### heading and a References line run into its entries; one of a
    failed fact-check; a leaderboard with intervals, gaps and a system whose fact-checks failed."""
    from drevalkit.render.scorecard import render_scorecard
    from drevalkit.schemas import Report, Scorecard, Usage

    from .support import make_card, planted, write

    def broken(system: str, task: str) -> Scorecard:
        card = make_card(system, task, 6.0, status="partial", factcheck_status="failed", right=(0, 0, 1))
        card.factcheck.counts.unknown, card.factcheck.ratios = 0, {}
        card.factcheck.reasons = ["claims of sentences S1-S45 could not be extracted: not valid JSON"]
        card.usage = Usage(calls=13, unpriced_calls=13, prompt_tokens=27000, completion_tokens=500)
        return card

    report = Report(system="formulas", task_id="t00", text=FORMULA_REPORT)
    formulas = tmp_path / "formulas.html"
    formulas.write_text(render_scorecard(make_card("formulas", "t00", 6.0), None, report))
    failed = tmp_path / "failed.html"
    failed.write_text(render_scorecard(broken("broken", "t00")))
    out = tmp_path / "out"
    planted(out, tasks=20, gaps=(0.4, 0.3))
    for index in range(20):
        write(out, broken("a-system-whose-fact-checks-failed", f"t{index:02d}"))
    result = CliRunner().invoke(main, ["leaderboard", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return formulas, failed, out / "leaderboard.html"


def test_formulas_headings_references_failures_and_columns_as_people_see_them(browser, tmp_path):
    formulas, failed, board = _pages_to_check(tmp_path)
    browser.open(formulas)
    # every marker is blue: linked to an entry of the page, none shown as missing
    assert browser.js("document.querySelectorAll('#report-text a.cite').length") == 2
    assert browser.js("document.querySelectorAll('#report-text .cite-missing').length") == 0
    assert browser.js(
        "[...document.querySelectorAll('#report-text a.cite')].every(a => document.querySelector(a.getAttribute('href')))"
    )
    assert browser.js("getComputedStyle(document.querySelector('#report-text a.cite')).color") == "rgb(11, 87, 164)"
    # formulas as written, in their own boxes; no emphasis made of their "_" and "*"
    assert browser.js("[...document.querySelectorAll('#report-text .math')].map(m => m.innerText)") == [
        "\\( g = C_{2021} / C_{1997} \\approx 19.4 \\)",
        "$t_{launch} - t_{plan} = 14$",
        "\\[ \\theta_{min} = 1.22 \\, \\lambda / D \\]",
        "$x_1 * x_2$",
        "$a_i b_i$",
    ]
    assert browser.js("document.querySelectorAll('#report-text em').length") == 0
    assert browser.js("getComputedStyle(document.querySelector('#report-text .math-block')).display") == "block"
    # the report's #### heading (an h6 on the page) is no smaller than its text
    sizes = browser.js(
        "['h3','h4','h5','h6','p'].map(t => { const e = document.querySelector('#report-text ' + t); "
        "return e ? parseFloat(getComputedStyle(e).fontSize) : null; })"
    )
    body = sizes[-1]
    assert all(size is None or size >= body for size in sizes[:-1]) and sizes[3] is not None, sizes
    assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
    browser.screenshot("scorecard-formulas.png")

    browser.open(failed)  # the header says the fact-check failed and the cost is unknown, not "RIGHT 0%", "0.0000"
    assert browser.js("document.querySelector('#stat-factcheck .v').innerText") == "failed"
    assert browser.js("getComputedStyle(document.querySelector('#stat-factcheck .v')).color") == "rgb(198, 40, 40)"
    assert browser.js("document.querySelector('#stat-cost .v').innerText") == "unknown"
    header = browser.js("document.querySelector('header').innerText")
    assert "RIGHT" not in header.upper().split("FACT-CHECK")[0] and "0.0000" not in header
    assert browser.js("!!document.getElementById('factcheck-failed')")
    browser.screenshot("scorecard-factcheck-failed.png")

    browser.open(board)  # at 1280 px every column of every table is on the page, the gap column too
    assert browser.js("window.innerWidth") == 1280
    assert browser.js(
        "[...document.querySelectorAll('table')].every(t => t.getBoundingClientRect().right <= "
        "document.documentElement.clientWidth)"
    )
    gap = "document.querySelector('#ranking-table thead th:last-child').getBoundingClientRect()"
    assert browser.js(f"{gap}.right <= document.documentElement.clientWidth && {gap}.width > 60")
    claims = browser.js(
        "[...document.querySelectorAll('#factcheck-table tbody tr')].map(r => [r.cells[0].innerText, "
        "r.cells[1].innerText.split('\\n')[0]])"
    )
    assert ["a-system-whose-fact-checks-failed", "failed"] in claims and ["A", "160"] in claims
    browser.screenshot("leaderboard-1280.png")
