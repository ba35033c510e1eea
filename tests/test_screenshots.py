"""The docs' pictures: the pipeline diagram is a safe, scalable SVG, and scripts/screenshots.py can take and join
screenshots (with Chromium, when it is installed; the tour itself is tested in test_tour.py)."""

from __future__ import annotations

import importlib.util
import os
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "docs" / "images" / "pipeline.svg"
NS = "{http://www.w3.org/2000/svg}"
CHROMIUM = "/usr/bin/chromium"


def _script():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_svg_is_safe_and_scales():
    root = ET.parse(SVG).getroot()
    assert root.tag == f"{NS}svg"
    x, y, width, height = map(float, root.get("viewBox").split())
    assert (x, y) == (0, 0) and 800 <= width <= 1000 and 350 <= height <= 500
    elements = list(root.iter())
    assert not [e for e in elements if e.tag.endswith("script") or e.tag.endswith("foreignObject")]
    for element in elements:
        for name, value in element.attrib.items():
            assert not name.startswith("on"), f"event handler {name}"
            if name == "href" or name.endswith("}href"):
                assert value.startswith("#"), f"external reference {value}"
    text = SVG.read_text()
    assert "@import" not in text and "http://" not in text.replace("http://www.w3.org/", "")
    assert "url(" not in text.replace("url(#", "")
    words = " ".join("".join(e.itertext()) for e in elements if e.tag == f"{NS}text")
    for command in ("generate-tasks", "run-agent", "import", "score", "leaderboard", "stress", "agree"):
        assert f"dreval {command}" in words


def _png(width, rows, first_filter):
    """An RGB PNG whose rows are the given grey levels, its first row written with FIRST_FILTER."""
    lines = b""
    for number, level in enumerate(rows):
        line = bytes([level] * 3 * width)
        if number == 0 and first_filter == 2:  # Up over nothing: the bytes themselves
            lines += b"\2" + line
        elif number == 0 and first_filter == 4:  # Paeth over nothing: the difference from the left pixel
            lines += b"\4" + bytes([level] * 3) + bytes(3 * (width - 1))
        elif number == 0 and first_filter == 3:  # Average over nothing: the difference from half the left pixel
            lines += b"\3" + bytes([level] * 3) + bytes([level - level // 2] * 3 * (width - 1))
        else:
            lines += b"\0" + line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(lines)) + chunk(b"IEND", b"")


def test_stitch_joins_pngs_and_frees_their_first_rows():
    shots = _script()
    parts = [_png(4, [10, 20], 0), _png(4, [30, 40], 4), _png(4, [50], 2), _png(4, [77], 3)]
    joined = shots.stitch(parts, gap=6)
    assert shots.png_size(joined) == (4, 2 + 6 + 2 + 6 + 1 + 6 + 1)
    data = zlib.decompress(b"".join(body for kind, body in shots._chunks(joined) if kind == b"IDAT"))
    rows = [data[i : i + 13] for i in range(0, len(data), 13)]
    assert rows[0] == b"\0" + bytes([10] * 12) and rows[2][0] == 0  # the first part as it was; a band row
    assert rows[8][0] == 1 and rows[8][1:4] == bytes([30] * 3)  # Paeth over a zero row became Sub
    assert rows[16] == b"\0" + bytes([50] * 12)  # Up over a zero row became no filter
    assert rows[23] == b"\0" + bytes([77] * 12)  # Average over a zero row, decoded
    with pytest.raises(shots.ShotError):
        shots.stitch([_png(4, [1], 0), _png(5, [1], 0)])


def test_missing_chromium_is_one_clear_line(monkeypatch):
    shots = _script()
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(shots.ShotError) as error:
        shots.find_chromium()
    assert "Chromium not found" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_capture_page_writes_a_png(tmp_path, monkeypatch):
    monkeypatch.setenv("CHROMIUM", CHROMIUM)
    shots = _script()
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><title>t</title><h1 style='color:#2b6cb0'>dreval</h1><p>a tiny page</p>")
    out = shots.capture_page(page, tmp_path / "shot.png", width=320, height=200)
    png = out.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100
    assert shots.png_size(png) == (320, 200)
    joined = shots.stitch([png, png])
    assert shots.png_size(joined) == (320, 200 + shots.GAP + 200)
