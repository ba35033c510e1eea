"""The HTML machinery shared by dreval's pages: the jinja2 environment, the page assets and their
Content-Security-Policy.

Every page is one self-contained file (inline CSS, inline SVG, no remote content) that works from ``file://``.
Reports, tasks, web passages and judge rationales are untrusted: jinja2 escapes everything that is not dreval's
own markup, control characters are removed, report markdown goes through a real sanitiser
(``drevalkit.render.markdown``), and the policy allows no script and no style but the page's own, named by their
sha256 hashes (never ``unsafe-inline``), no images, frames, forms or connections.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from functools import cache, lru_cache

import jinja2
from markupsafe import Markup

from ..resources import data_path
from ..text import terminal_safe
from .urls import is_http_url

__all__ = ["asset", "content_security_policy", "environment", "is_http_url"]


def _finalize(value: object) -> object:
    # dreval's own markup (sanitised report HTML, the SVG chart) passes; any other text loses control characters
    # and escape sequences (they have no business in a page and confuse some viewers), then is escaped
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return terminal_safe(value)
    return value


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_path("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # shipped templates: compiled once, no file checks on every page
    )
    env.filters["http_url"] = is_http_url
    env.filters["pct"] = lambda value, digits=0: "—" if value is None else f"{100 * value:.{digits}f}%"
    env.filters["num"] = lambda value, digits=2: "—" if value is None else f"{value:.{digits}f}"
    return env


@cache
def asset(name: str) -> Markup:
    """A shipped CSS or JavaScript file, to inline verbatim (its hash goes into the page's policy)."""
    text = (data_path("templates") / name).read_text(encoding="utf-8")
    return Markup(text)


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(styles: Sequence[str], scripts: Sequence[str] = ()) -> str:
    """A policy allowing exactly these inline ``<style>`` and ``<script>`` contents and nothing else."""
    script_src = " ".join(_hash(s) for s in scripts) if scripts else "'none'"
    return (
        "default-src 'none'; style-src " + " ".join(_hash(s) for s in styles) + f"; script-src {script_src}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )
