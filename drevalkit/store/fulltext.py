"""The text side of the store, with no database in it: how a document's text is kept (compressed when that is
smaller), what of it goes into the full-text index, which words of a query are searched for, and the snippet shown
for a hit. Pure functions, so the index can be rebuilt from them and they can be tested on their own.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import zlib

from ..text import collapse_whitespace

INDEX_CHARS = 200_000  # characters of each document that go into the full-text index (and are searched for snippets)
SNIPPET_CHARS = 240  # about the length of a snippet
MAX_QUERY_TERMS = 32
_COMPRESS_MIN_BYTES = 128  # shorter texts are stored as they are
_TERM_MATCHES = 64  # occurrences of each query term looked at when placing a snippet

# Query words split the way the unicode61 tokenizer splits text (it treats "_" as a separator), so that every quoted
# query term is a single token.
_FTS_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be but by can did do does for from had has have how in into is it its of on or that the "
    "their them there these they this to was were what when where which who why will with".split()
)
_PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum() and not chr(c).isspace())
# what index_body does; stored in the store's meta table, and a store indexed another way is re-indexed when opened
INDEX_FORMAT = "1:" + hashlib.sha256(" ".join(sorted(_STOP)).encode()).hexdigest()[:12]


def query_terms(query: str) -> list[str]:
    """The distinct words of a query that are searched for: lower case, no stop words or single characters."""
    words = (t.lower() for t in _FTS_TOKEN.findall(query))
    return list(dict.fromkeys(t for t in words if len(t) > 1 and t not in _STOP))[:MAX_QUERY_TERMS]


def encode_text(text: str) -> tuple[str, bytes | str]:
    """The sha256 of ``text`` and the value stored for it (compressed bytes when that is smaller)."""
    raw = text.encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) >= _COMPRESS_MIN_BYTES:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return digest, packed
    return digest, text


def decode_text(value: bytes | str, chars: int | None = None) -> str:
    """The stored text, or its first ``chars`` characters (decompressing no more than those need)."""
    if isinstance(value, str):
        return value if chars is None else value[:chars]
    if chars is None:
        return zlib.decompress(value).decode("utf-8")
    inflate, decoder = zlib.decompressobj(), codecs.getincrementaldecoder("utf-8")()
    parts: list[str] = []
    have, pending = 0, value
    while have < chars:
        # a character takes at least one byte: ask for as many bytes as characters are missing
        raw = inflate.decompress(pending, chars - have)
        pending = inflate.unconsumed_tail
        if not raw:
            break
        part = decoder.decode(raw)  # keeps a character cut at the end for the next round
        parts.append(part)
        have += len(part)
    return "".join(parts)[:chars]


def index_body(prefix: str) -> str:
    """What goes into the full-text index for the indexed part of a document (its first ``INDEX_CHARS``
    characters): lower case, without stop words (queries never search for them; leaving them out makes the index
    about a sixth smaller).

    The index is contentless, so removing an entry means giving it these exact values again: this must stay a pure
    function of the text, and a change to it needs a new ``INDEX_FORMAT`` (the store then rebuilds its index).
    """
    words = prefix.lower().split()
    return " ".join(w for w in words if w.strip(_PUNCTUATION) not in _STOP)


def _stem_prefix(term: str) -> str:
    """What a word of the text must start with to count as ``term`` when placing a snippet: the index stems words
    (Porter), so "launched" matches "launch"; a rough cut of the ending stands in for the stemmer."""
    if len(term) <= 4 or term.isdigit():
        return term
    return term[: max(4, len(term) - 3)]


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """The stretch of ``text`` about ``width`` characters long holding the most distinct query terms (the start of
    the text when none is found), cut at word boundaries, whitespace collapsed, "..." where it was cut.

    Linear in the length of ``text`` and bounded: each term is looked up with ``str.find`` and at most
    ``_TERM_MATCHES`` of its occurrences are weighed.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased; positions must line up
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    hits: list[tuple[int, int]] = []  # (position, term number)
    for number, prefix in enumerate(dict.fromkeys(_stem_prefix(t) for t in terms)):
        found, start, tries = 0, 0, 0
        while found < _TERM_MATCHES and tries < 16 * _TERM_MATCHES:  # bounded even if it is mostly inside words
            tries += 1
            at = lowered.find(prefix, start)
            if at < 0:
                break
            start = at + 1
            if at > 0 and lowered[at - 1].isalnum():
                continue  # inside a word, not at its start
            hits.append((at, number))
            found += 1
    best_at, best_count = 0, 0
    if hits:
        hits.sort()
        counts: dict[int, int] = {}
        left = 0
        for at, number in hits:  # sliding window over the hits: the most distinct terms
            counts[number] = counts.get(number, 0) + 1
            while at - hits[left][0] > width * 2 // 3:
                gone = hits[left][1]
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
                left += 1
            if len(counts) > best_count:
                best_count, best_at = len(counts), hits[left][0]
    start = max(0, best_at - width // 6)
    if start:
        space = text.rfind(" ", max(0, start - 20), best_at)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start + width // 2, end)
        end = space if space > 0 else end
    snippet = collapse_whitespace(text[start:end])
    if start > 0:
        snippet = "... " + snippet
    if end < len(text):
        snippet += " ..."
    return snippet
