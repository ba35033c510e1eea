"""The leaderboard's four formats (CSV, JSON, Markdown, HTML): intervals, method and counts carried, links that resolve,
hostile system and task names inert in every format."""

import csv
import io
from html.parser import HTMLParser

from drevalkit.layout import OutputLayout
from drevalkit.leaderboard import Leaderboard, build_leaderboard
from drevalkit.leaderboard.formats import render, to_csv, to_html, to_markdown

from .support import make_card, planted, write


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_formats_carry_intervals_method_and_counts(tmp_path):
    out = tmp_path / "out"
    planted(out, tasks=8, gaps=(1.0, 0.0))
    OutputLayout(out).result("C", "t02").unlink()
    board = build_leaderboard(out, resamples=1000)
    rows = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert rows[0]["system"] == "A" and rows[0]["rank"] == "1" and {r["system"] for r in rows} == {"A", "B", "C"}
    c = next(r for r in rows if r["system"] == "C")
    assert c["missing"] == "1" and c["complete"] == "7" and float(c["quality_low"]) <= float(c["quality_mean"])
    assert rows[0]["gap_to_next_significant"] in ("true", "false") and rows[0]["resamples"] == "1000"
    assert "percentile bootstrap" in rows[0]["interval_method"] and rows[0]["correction"].startswith("Holm")
    assert {
        "dim_coverage_mean",
        "specific_mean",
        "right_micro_mean",
        "right_macro_mean",
        "citation_reachability_mean",
        "tokens_per_report_mean",
    } <= set(rows[0])
    again = Leaderboard.model_validate_json(render(board, "json"))
    assert {r.system: r.missing for r in again.systems} == {"A": 0, "B": 0, "C": 1} and again.gaps[0].upper == "A"
    md = to_markdown(board)
    assert "1000 resamples" in md and "Holm-Bonferroni" in md and "| 1 | A |" in md and "1 missing" in md
    assert "right (micro)" in md and "right (macro)" in md and "| t02 |" in md and " missing |" in md
    page = tmp_path / "site" / "board.html"
    html = to_html(board, page, out)
    parsed = _Page()
    parsed.feed(html)
    links = [a["href"] for tag, a in parsed.tags if tag == "a" and "href" in a and not a["href"].startswith("#")]
    assert links and all((page.parent / href.split("#")[0]).resolve().is_file() for href in links)
    assert len(links) >= 2 * 23  # every task cell of every system, in the matrix and the breakdowns
    sortable = [a for tag, a in parsed.tags if tag == "table" and "sortable" in a.get("class", "")]
    assert len(sortable) >= 4


def test_hostile_names_stay_inert_in_every_format(tmp_path):
    out = tmp_path / "out"
    evil_system = '=HYPERLINK("http://x")<script>alert(1)</script>'
    evil_task = '"><img src=x onerror=alert(2)>|*[x](javascript:alert(3))'
    write(out, make_card(evil_system, evil_task, 6.0))
    write(out, make_card("fine", evil_task, 7.0))
    write(out, make_card("fine", "t" * 700, 7.0))  # a 700-character task id
    board = build_leaderboard(out, resamples=200)
    html = to_html(board, out / "leaderboard.html", out)
    parsed = _Page()
    parsed.feed(html)
    assert [t for t, _ in parsed.tags if t == "script"] == ["script"]  # ours only
    assert not [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed", "svg")]
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "formaction", "style"):
            assert "javascript:" not in (attrs.get(name) or ""), (tag, attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = to_markdown(board)
    assert "<script>" not in md and "\\<script\\>" in md and "\\|" in md and "\\[x\\]" in md
    rows = list(csv.reader(io.StringIO(to_csv(board))))
    system_cells = [r[3] for r in rows[1:]]
    assert "'" + evil_system in system_cells  # a spreadsheet will not run it as a formula
