"""HTML scorecards. Reports, tasks and rationales are untrusted text: autoescaping is on and the page allows no
scripts or remote content (Content-Security-Policy)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import jinja2

from ..resources import data_path
from ..schemas import Rubric, Scorecard
from ..text import terminal_safe


def is_http_url(url: str) -> bool:
    """Only http(s) URLs become links: a ``javascript:`` or ``data:`` URL from a hostile page stays plain text."""
    return urlsplit(url).scheme.lower() in ("http", "https")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_path("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        # control characters and escape sequences have no business in a page (and break some viewers)
        finalize=lambda value: terminal_safe(value) if isinstance(value, str) else value,
    )
    env.filters["http_url"] = is_http_url
    return env


def render_scorecard(card: Scorecard, rubric: Rubric | None = None) -> str:
    names = {d.id: d.name for d in rubric.dimensions} if rubric else {}
    criteria = {c.id: c.text for d in rubric.dimensions for c in d.criteria} if rubric else {}
    return _environment().get_template("scorecard.html.j2").render(card=card, names=names, criteria=criteria)
