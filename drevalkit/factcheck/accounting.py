"""What a fact-check could and could not read, said plainly: fetch failures by cause, evidence coverage, and the
state of the report's cited sources. A fact-check in which no claim was shown any evidence is ``failed``, and one
below ``MIN_EVIDENCE_COVERAGE`` is ``partial``: an evidence-free run never reports ``complete``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable

from ..schemas import CitedSource, Claim, FetchRecord, Verdict

MIN_EVIDENCE_COVERAGE = 0.5  # below this share of claims shown any evidence, a fact-check is partial

_CAUSES = (  # (cause, pattern on FetchRecord.error), first match wins
    (
        "DNS",
        r"cannot resolve host|name or service not known|nodename nor servname|getaddrinfo failed|"
        r"temporary failure in name resolution|no address associated|name resolution",
    ),
    ("private address refused", r"^refused:"),
    ("timeout", r"timed out|timeout"),
    ("connection", r"cannot connect|ConnectError|RemoteProtocolError|ReadError|connection"),
    ("too large", r"too large"),
    ("content type", r"unsupported content (type|encoding)"),
    ("redirects", r"redirect"),
    ("extraction", r"extract|no extractable text|cannot read PDF|cannot decode"),
    ("invalid URL", r"invalid URL|unsupported URL scheme|URL has no host"),
    ("not stored (replay)", r"replay|stored with --allow-private-urls"),
)


def fetch_cause(record: FetchRecord) -> str:
    """A short cause for a failed fetch: "HTTP 404", "DNS", "timeout", ..."""
    if record.http_status and record.http_status >= 400 and record.error.startswith("HTTP"):
        return f"HTTP {record.http_status}"
    for cause, pattern in _CAUSES:
        if re.search(pattern, record.error, re.IGNORECASE):
            return cause
    return "other"


def failure_causes(records: Iterable[FetchRecord]) -> dict[str, int]:
    """Failed fetches counted by cause, most frequent first."""
    counts = Counter(fetch_cause(r) for r in records if not r.ok)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def describe_failures(causes: dict[str, int]) -> str:
    """ "8 fetches failed (DNS 6, HTTP 404 2)" """
    total = sum(causes.values())
    if not total:
        return "no fetch failed"
    detail = ", ".join(f"{cause} {count}" for cause, count in causes.items())
    return f"{total} fetch{'es' if total != 1 else ''} failed ({detail})"


def cited_sources(
    claims: list[Claim],
    verdicts: dict[str, Verdict],
    citation_urls: dict[int, str],
    fetches: dict[str, FetchRecord],
    hostile: Collection[str] = (),
) -> tuple[list[CitedSource], int]:
    """Every source the checked claims cite: reachable or not, and how often it supported them; plus the number of
    cited reference numbers that resolve to no URL in the report (dangling markers). A ``hostile`` source (one that
    addressed the verifier, so it was not evidence) supports none of the claims judged against it."""
    sources: dict[str, CitedSource] = {}
    dangling: set[int] = set()
    for claim in claims:
        verdict = verdicts.get(claim.id)
        cited: dict[str, int | None] = {}
        for ref in claim.cited_refs:
            if ref in citation_urls:
                cited.setdefault(citation_urls[ref], ref)
            else:
                dangling.add(ref)
        for url in claim.cited_urls:  # linked inline
            cited.setdefault(url, None)
        for url, index in cited.items():
            source = sources.get(url)
            if source is None:
                record = fetches.get(url)
                source = CitedSource(
                    index=index,
                    url=url,
                    reachable=bool(record and record.ok),
                    error="" if record is None or record.ok else record.error,
                )
                sources[url] = source
            source.claims.append(claim.id)
            if verdict is not None and url in hostile:
                source.unsupported += 1
            elif verdict is not None and verdict.cited_source_supports is True:
                source.supported += 1
            elif verdict is not None and verdict.cited_source_supports is False:
                source.unsupported += 1
    ordered = sorted(sources.values(), key=lambda s: (s.index is None, s.index or 0, s.url))
    return ordered, len(dangling)
