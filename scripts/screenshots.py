"""Screenshots of a scorecard and of a leaderboard for the docs (``make screenshots``).

Runs the tour (``make tour``: every stage against a stand-in judge and a scripted agent, no model or network) into
./tour as ``make tour`` does (so the pages show paths relative to it, not this machine's), opens one of its
scorecards and its leaderboard in headless Chromium and writes ``docs/images/scorecard.png`` and
``docs/images/leaderboard.png``, with ``docs/images/screenshots.json`` saying which dreval version, pages and
stand-ins they show. Every figure in them comes from the stand-ins (the pages
name the judge, ``stand-in-judge``); none measures a real model.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``, no port, no extra package) so
that the pictures are cut where the page's sections begin and end, found in the page's own layout, not at guessed
pixel offsets: the scorecard picture is its header and dimension chart, its claim table and the first rows of its
provenance table (with the dreval version and the judge), joined by grey bands where parts of the page are left out.

    python scripts/screenshots.py [--out docs/images] [--tour-dir tour] [--no-tour] [--scorecard SYSTEM/TASK]

Chromium is taken from $CHROMIUM, else /usr/bin/chromium, else chromium, chromium-browser or google-chrome on PATH.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "images"
DEFAULT_SCORECARD = "scripted-mirothinker/jwst-launch"
JUDGE = "stand-in-judge"  # the tour's judge: the pages name it
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
MARGIN = 24  # px kept around a page's content column
GAP = 28  # px of the grey band where part of a page is left out
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ShotError(Exception):
    """A screenshot could not be taken; the message says why."""


def find_chromium() -> str:
    """The Chromium executable, or ShotError with a one-line message."""
    wanted = os.environ.get("CHROMIUM")
    for name in (wanted,) if wanted else CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    looked = f"CHROMIUM={wanted}" if wanted else ", ".join(CANDIDATES)
    raise ShotError(
        f"Chromium not found (looked for {looked}): install it (e.g. apt-get install chromium) "
        "or set CHROMIUM to its path"
    )


# -- Chromium over the DevTools protocol ---------------------------------------------------------------------------
class Chromium:
    """A headless Chromium, driven over the DevTools protocol on fds 3 and 4; a context manager."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0) -> None:
        self.executable = executable or find_chromium()
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.profile = ""
        self._buffer = b""
        self._next_id = 0

    def __enter__(self) -> Chromium:
        self.profile = tempfile.mkdtemp(prefix="dreval-shots-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # the child's ends moved above 9, so that putting them on 3 and 4 cannot overwrite one with the other
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def onto_3_and_4() -> None:  # in the child, before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        try:
            self.process = subprocess.Popen(
                [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(3, 4),
                preexec_fn=onto_3_and_4,
                start_new_session=True,  # its helpers in one group, stopped together
            )
        except OSError as error:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise ShotError(f"could not start {self.executable}: {error}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        self._send = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._receive = os.fdopen(from_chrome_r, "rb", buffering=0)
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is not None:
            try:
                if process.poll() is None:
                    self.call("Browser.close", timeout=5)
                    process.wait(timeout=10)
            except (ShotError, OSError, subprocess.TimeoutExpired):
                pass
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            self._send.close()
            self._receive.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "", timeout: float = 0) -> Any:
        """Send one command and wait for its answer (events in between are dropped)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self._send.write(json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise ShotError(f"Chromium exited (code {self.process and self.process.poll()})") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._receive], [], [], left)[0]:
                    raise ShotError(f"Chromium did not answer {method} within {timeout or self.timeout:.0f} s")
                chunk = self._receive.read(1 << 20)
                if not chunk:
                    raise ShotError(f"Chromium exited while answering {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ShotError(f"Chromium refused {method}: {answer['error'].get('message', answer['error'])}")
                return answer.get("result", {})

    def open(self, page: Path | str, width: int, height: int) -> str:
        """Load a page (a path or a URL) in a new tab of this window size; returns the tab's session."""
        url = page if isinstance(page, str) and "://" in page else Path(page).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.resize(session, width, height)
        loaded = self.call("Page.navigate", {"url": url}, session)
        if loaded.get("errorText"):
            raise ShotError(f"Chromium could not open {url}: {loaded['errorText']}")
        deadline = time.monotonic() + self.timeout
        while self.evaluate(session, "document.readyState + ' ' + document.fonts.status") != "complete loaded":
            if time.monotonic() > deadline:
                raise ShotError(f"{url} did not finish loading within {self.timeout:.0f} s")
            time.sleep(0.05)
        return session

    def resize(self, session: str, width: int, height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session)

    def evaluate(self, session: str, expression: str) -> Any:
        """The JSON value of an expression evaluated in the page (DevTools runs it whatever the page's CSP)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise ShotError(f"evaluating {expression[:60]!r} failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def capture(self, session: str, x: float, y: float, width: float, height: float) -> bytes:
        """A PNG of one rectangle of the page (page coordinates, beyond the window if need be)."""
        clip = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
        params = {"format": "png", "clip": clip, "captureBeyondViewport": True}
        return base64.b64decode(self.call("Page.captureScreenshot", params, session)["data"])


def capture_page(
    page: Path | str, out: Path, width: int = 1280, height: int = 800, chromium: str | None = None
) -> Path:
    """Screenshot the first WIDTH x HEIGHT pixels of a page (a path or URL) into OUT (PNG)."""
    with Chromium(chromium) as browser:
        session = browser.open(page, width, height)
        png = browser.capture(session, 0, 0, width, height)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out


# -- layout: where a page's parts are --------------------------------------------------------------------------------
_RECTS = """JSON.stringify(Object.fromEntries(%s.map(s => {
  const e = document.querySelector(s); if (!e) return [s, null];
  const r = e.getBoundingClientRect();
  return [s, [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY]];
})))"""


def rects(browser: Chromium, session: str, selectors: list[str], page: str) -> dict[str, list[float]]:
    """The page-coordinate rectangles [left, top, right, bottom] of the first element of each selector."""
    found = json.loads(browser.evaluate(session, _RECTS % json.dumps(selectors)))
    missing = [s for s in selectors if found.get(s) is None]
    if missing:
        raise ShotError(f"{page} has no {', '.join(missing)}: has the page's layout changed? (see {__file__})")
    return found


def fit_width(browser: Chromium, session: str, widths: tuple[int, ...], height: int) -> int:
    """The first window width at which every table of the page fits in the window (none cut off at the right)."""
    widest = "Math.max(0, ...[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right))"
    for width in widths:
        browser.resize(session, width, height)
        if browser.evaluate(session, f"{widest} <= document.documentElement.clientWidth"):
            return width
    raise ShotError(f"the page's tables do not fit even {widths[-1]} px wide")


# -- PNG: joining screenshots of the same width, no image library needed -------------------------------------------
def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    if not png.startswith(PNG_SIGNATURE):
        raise ShotError("not a PNG")
    chunks, at = [], len(PNG_SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        chunks.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG."""
    kind, header = _chunks(png)[0]
    return struct.unpack(">II", header[:8]) if kind == b"IHDR" else (0, 0)


def _first_row_alone(row: bytearray, pixel: int) -> bytearray:
    """Re-filter a PNG's first scan line so that it no longer depends on the line above it (there was none)."""
    kind = row[0]
    if kind == 2:  # Up over a zero line is no filter
        row[0] = 0
    elif kind == 4:  # Paeth over a zero line predicts from the left: Sub
        row[0] = 1
    elif kind == 3:  # Average over a zero line: decode it
        for i in range(1 + pixel, len(row)):
            row[i] = (row[i] + row[i - pixel] // 2) & 0xFF
        row[0] = 0
    return row


def stitch(parts: list[bytes], gap: int = GAP) -> bytes:
    """Join PNGs of one width and colour type top to bottom, with a grey band and a dashed line between them."""
    header = b""
    width = pixel = 0
    lines = bytearray()
    for number, png in enumerate(parts):
        chunks = _chunks(png)
        ihdr = chunks[0][1]
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
        if depth != 8 or colour not in (2, 6) or interlace:
            raise ShotError(f"cannot join this PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
        if header and (ihdr[:4] != header[:4] or ihdr[8:] != header[8:]):
            raise ShotError("cannot join PNGs of different widths or colour types")
        header = ihdr
        pixel = 3 if colour == 2 else 4
        data = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
        stride = 1 + width * pixel
        if len(data) != stride * height:
            raise ShotError("a PNG's image data does not match its size")
        if number:
            band = bytes([246, 247, 249, 255][:pixel])
            dash = bytes([170, 174, 182, 255][:pixel])
            plain = b"\0" + band * width
            dashed = b"\0" + b"".join(dash if (x // 8) % 2 == 0 else band for x in range(width))
            middle = gap // 2
            lines += b"".join(dashed if y in (middle - 1, middle) else plain for y in range(gap))
        lines += _first_row_alone(bytearray(data[:stride]), pixel) + data[stride:]
    rows = len(lines) // (1 + width * pixel)
    ihdr = struct.pack(">II", width, rows) + header[8:]
    return (
        PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(lines), 9)) + _chunk(b"IEND", b"")
    )


# -- the two pictures ------------------------------------------------------------------------------------------------
def shoot_scorecard(browser: Chromium, page: Path, out: Path) -> dict[str, Any]:
    """Header and chart, the claim table, and the provenance rows naming the dreval version and the judge."""
    width = 1280
    session = browser.open(page, width, 900)
    places = rects(
        browser,
        session,
        ["header#top", "#dimensions p.legend", "#claims", "#factcheck", "#provenance", "#provenance tr:nth-child(2)"],
        page.name,
    )
    left = max(0, places["header#top"][0] - MARGIN)
    right = min(width, places["header#top"][2] + MARGIN)
    spans = [
        (0, places["#dimensions p.legend"][3] + 12),
        (places["#claims"][1] - 16, places["#factcheck"][3] + 8),
        (places["#provenance"][1] - 16, places["#provenance tr:nth-child(2)"][3] + 2),
    ]
    pngs = [browser.capture(session, left, top, right - left, bottom - top) for top, bottom in spans]
    out.write_bytes(stitch(pngs))
    return {"parts": "header and dimension chart; claim table; provenance (dreval version, judge)"}


def shoot_leaderboard(browser: Chromium, page: Path, out: Path) -> dict[str, Any]:
    """From the title down to the end of the ranking table and its note, at a width where the table fits."""
    session = browser.open(page, 1280, 900)
    width = fit_width(browser, session, (1280, 1440, 1600, 1920), 900)
    places = rects(browser, session, ["main", "#ranking"], page.name)
    left = max(0, places["main"][0] - MARGIN)
    right = min(width, places["main"][2] + MARGIN)
    out.write_bytes(browser.capture(session, left, 0, right - left, places["#ranking"][3] + 8))
    return {"parts": "title, notes, problems and the ranking table"}


def dreval_version() -> str:
    sys.path.insert(0, str(ROOT))
    from drevalkit import __version__

    return __version__


def run_tour(folder: Path) -> None:
    print(f"running the tour in {folder} (about a minute; stand-ins only) ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "drevalkit.testing.tour", str(folder)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if done.returncode:
        sys.stdout.write(done.stdout)
        raise ShotError(f"the tour failed (exit code {done.returncode}); its output is above")


def shoot(tour: Path, out: Path, scorecard: str, chromium: str) -> dict[str, Any]:
    results = tour / "dreval-out"
    card = results / "html" / f"{scorecard}.html"
    if not card.is_file():
        cards = sorted((results / "html").glob("*/*.html"))
        if not cards:
            raise ShotError(f"no scorecard in {results / 'html'}: is {tour} a finished tour?")
        card = cards[0]
    board = results / "leaderboard.html"
    if not board.is_file():
        raise ShotError(f"no leaderboard in {results}: is {tour} a finished tour?")
    if JUDGE not in card.read_text(encoding="utf-8"):
        raise ShotError(f"{card} does not name the judge {JUDGE}: these pictures must come from the tour's stand-ins")
    out.mkdir(parents=True, exist_ok=True)
    made: dict[str, Any] = {}
    with Chromium(chromium) as browser:
        for name, page, take in (
            ("scorecard.png", card, shoot_scorecard),
            ("leaderboard.png", board, shoot_leaderboard),
        ):
            info = take(browser, page, out / name)
            png = (out / name).read_bytes()
            made[name] = {"page": page.relative_to(tour).as_posix(), **info, "pixels": list(png_size(png))}
            print(f"wrote {out / name} ({len(png) // 1024} KB, {'x'.join(map(str, png_size(png)))} px)", flush=True)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/screenshots.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs (default: docs/images)")
    parser.add_argument(
        "--tour-dir", type=Path, default=ROOT / "tour", help="the tour's folder, as make tour's (default: ./tour)"
    )
    parser.add_argument("--no-tour", action="store_true", help="use the finished tour in --tour-dir, do not run one")
    parser.add_argument("--scorecard", default=DEFAULT_SCORECARD, help="SYSTEM/TASK of the scorecard to show")
    args = parser.parse_args(argv)
    tour = args.tour_dir.resolve()
    try:
        chromium = find_chromium()
        if not args.no_tour:
            run_tour(tour)
        made = shoot(tour, args.out.resolve(), args.scorecard, chromium)
    except ShotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    caption = {
        "dreval_version": dreval_version(),
        "taken": time.strftime("%Y-%m-%d"),
        "made_by": "make screenshots (scripts/screenshots.py) from the pages of the tour (make tour)",
        "stand_ins": (
            f"every figure comes from stand-ins: the judge ({JUDGE}) applies fixed rules and fills rubrics and "
            "scores from the request's schema, and the agent (scripted-agent) follows a script; none of it "
            "measures a real model"
        ),
        "images": made,
    }
    (args.out / "screenshots.json").write_text(json.dumps(caption, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'screenshots.json'} (dreval {caption['dreval_version']}, the pages shown)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
