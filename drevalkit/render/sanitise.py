"""The last step of rendering a report: whatever markdown-it and dreval produced goes through ``nh3`` (the ammonia
sanitiser) with a closed list of tags, classes and attributes, so only http(s) links and dreval's own in-page
anchors survive, and there are no event attributes, styles or scripts, whatever a report tried."""

from __future__ import annotations

import re

import nh3

from .highlight import VERDICT_ORDER
from .urls import is_http_url

_ANCHOR_ID = re.compile(r"(?:s|ref)-\d{1,6}")
_FRAGMENT = re.compile(r"#(?:claim|ref|s)-\d{1,6}")

ALLOWED_TAGS = {
    "p",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "code",
    "em",
    "strong",
    "s",
    "del",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "br",
    "mark",
    "sup",
    "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "mark": {"id", "title"}, "span": {"id", "title"}, "ol": {"start"}}
ALLOWED_CLASSES = {
    "mark": {"hl", *(f"v-{v}" for v in VERDICT_ORDER)},
    "a": {"cite", "claim-tag", "ext", *(f"v-{v}" for v in VERDICT_ORDER)},
    "span": {"ref-entry", "cite", "cite-missing", "image", "math", "math-block"},
    "sup": {"claim-tags"},
}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        if value.startswith("#"):
            return value if _FRAGMENT.fullmatch(value) else None
        return value if is_http_url(value) else None
    if attribute == "id":
        return value if _ANCHOR_ID.fullmatch(value) else None
    if attribute == "start":
        return value if value.isdigit() and len(value) <= 6 else None
    return value


def sanitise(fragment: str) -> str:
    """``fragment`` with only the tags, classes and attributes a rendered report needs: http(s) links and
    dreval's in-page anchors; no scripts, styles, event attributes, images, forms or frames."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "template", "iframe", "object", "noscript", "svg", "math"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
