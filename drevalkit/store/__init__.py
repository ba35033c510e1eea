"""SQLite store shared by every run: the LLM response cache, search results, fetch records and fetched documents
(content-addressed by sha256), with an FTS5 index over the documents for the offline ``local`` search backend,
and the journal of resumable runs (``dreval generate-tasks``): the final output of each finished step, so a run
restarted after a crash or Ctrl-C repeats none of them.

WAL mode with a busy timeout makes it safe for several processes; each write is its own transaction, so a crash
loses at most the write in flight. It lives in the user cache directory (``DREVAL_HOME`` moves it).

The store has to stay fast whatever was put in it, because it is shared by every later run:

* Text is stored once: ``documents`` holds each text (zlib-compressed when that is smaller) under its sha256, and
  the full-text index ``doc_fts`` is *contentless* (``content=''``): it holds the inverted index only, keyed by the
  integer id of the URL's row in ``doc_index``. Replacing a URL's document removes the old entry by that id, so an
  insert costs the same in a store of a thousand pages or of a million.
* Only the first ``INDEX_CHARS`` characters of a document are indexed, so one huge page cannot make searches slow.
* Snippets are built in Python from a bounded prefix of the matching documents (no FTS5 ``snippet()``, whose cost
  grows with the square of a document's size) and every search runs under a time limit.
* One writer connection, held only for the statements of one write, and a pool of reader connections (WAL lets them
  read while a write is in progress); ``arun`` runs any store call in a worker thread, off the event loop.
"""

from .database import DEFAULT_SEARCH_TIMEOUT, STORE_SCHEMA_VERSION, Store, StoreError, StoreTimeout
from .fulltext import INDEX_CHARS, MAX_QUERY_TERMS, SNIPPET_CHARS, index_body, make_snippet, query_terms

__all__ = [
    "DEFAULT_SEARCH_TIMEOUT",
    "INDEX_CHARS",
    "MAX_QUERY_TERMS",
    "SNIPPET_CHARS",
    "STORE_SCHEMA_VERSION",
    "Store",
    "StoreError",
    "StoreTimeout",
    "index_body",
    "make_snippet",
    "query_terms",
]
