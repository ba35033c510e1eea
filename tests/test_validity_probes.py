"""The stress probes' transformations: deterministic and seeded, content preserved, reversible where they only add."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drevalkit.citations import parse_citations, prose_lines, scan_citations, split_references
from drevalkit.factcheck.numbers import mismatches
from drevalkit.validity import probes as P

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
REPORT = (SAMPLES / "report.md").read_text(encoding="utf-8")

FIXTURE = """# A fixture report

Intro paragraph with **bold words**, _italic words_ and `code` [1].
It continues on a second line [2].

## First topic

The first topic has a [linked page](https://example.org/page) and a figure of 42 units [1].

- item one with *emphasis* [2]
- item two [3]

## Second topic

| name | value |
|------|-------|
| alpha | 1.5 |

> A quoted line [3].

## Third topic

Plain text about the third topic, with 7 apples [2][3].

---

## Conclusion

We conclude that the topics matter [1].

## References

[1] One. https://example.org/1
[2] Two. https://example.org/2
[3] Three. https://example.org/3
"""


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


def markers(text: str) -> list[tuple[int, ...]]:
    body, _ = split_references(text)
    return [t.refs for t in scan_citations(prose_lines(body)) if t.kind == "marker"]


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
@pytest.mark.parametrize("probe", [p for p in P.PROBES if p != "evidence-injection"])
def test_every_probe_is_deterministic_and_seeded(probe, text):
    first = P.variants_for(probe, text, 3, seed=7)
    again = P.variants_for(probe, text, 3, seed=7)
    assert first and [v.text for v in first] == [v.text for v in again]
    assert [v.name for v in first] == [v.name for v in again]
    texts = [v.text for v in first]
    if probe in ("pad", "fake-citations", "null-report"):
        assert len(set(texts)) == len(texts)  # the variants differ from each other
        assert [v.text for v in P.variants_for(probe, text, 3, seed=8)] != texts  # and with the seed
    original = P.normalise(text)
    for variant in first:
        assert variant.probe == probe and variant.note
        if variant.text is not None:
            assert variant.text != original and variant.text.endswith("\n")


def test_normalise_is_idempotent_and_keeps_code_blocks_whole():
    text = "# T\n\n\n\npara  \nline two\n\n```\ncode\n\n\nmore code\n```\n\n\nend"
    once = P.normalise(text)
    assert P.normalise(once) == once
    assert "code\n\n\nmore code" in once and "para\nline two" in once


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_pad_adds_only_fluent_filler_and_is_reversible(text):
    original = P.normalise(text)
    doc = P.Document.parse(text)
    for variant in P.pad_variants(text, 3, seed=0):
        assert P.undo(variant, original) == original
        added = " ".join(piece for _, piece in variant.insertions)
        assert not re.search(r"\d", added) and "[" not in added  # no figures, no citations
        assert all(sentence in P.FILLER for sentence in re.split(r"(?<=\.)\s+", added.strip()) if sentence.strip())
        ratio = len(added.split()) / doc.words()
        assert 0.25 <= ratio <= 0.9, ratio
        assert markers(variant.text) == markers(original)


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_trim_style_keeps_every_word_in_order(text):
    original = P.normalise(text)
    variants = {v.name: v.text for v in P.trim_variants(text)}
    assert set(variants) == {"trim-emphasis", "trim-headings", "trim-all"}
    for name, trimmed in variants.items():
        assert words(trimmed) == words(original), name
        assert markers(trimmed) == markers(original), name
        assert "**" not in trimmed
    assert not re.search(r"^#", variants["trim-headings"], re.MULTILINE)
    assert re.search(r"^## ", variants["trim-emphasis"], re.MULTILINE)
    everything = variants["trim-all"]
    assert not re.search(r"^\s*[-*] ", everything, re.MULTILINE) and "|" not in everything
    assert "](" not in everything and not re.search(r"^>", everything, re.MULTILINE)
    if text is FIXTURE:
        assert "linked page (https://example.org/page)" in everything and "alpha; 1.5" in everything
        assert "---" not in everything and "bold words" in variants["trim-emphasis"]


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_shuffle_moves_whole_sections_keeps_the_closing_one_and_is_reversible(text):
    original = P.normalise(text)
    preamble, sections = P.Document.parse(text).sections()
    variants = P.shuffle_variants(text, 3, seed=0)
    assert len(variants) == 3
    for variant in variants:
        assert P.undo(variant, original) == original
        assert sorted(variant.order) == list(range(len(variant.order))) and list(variant.order) != sorted(variant.order)
        shuffled_preamble, shuffled = P.Document.parse(variant.text).sections()
        assert shuffled_preamble == preamble
        assert sorted(map(tuple, shuffled)) == sorted(map(tuple, sections))  # the same sections, whole
        assert shuffled[-1] == sections[-1]  # "Three lessons" / "Conclusion" stays last
        assert split_references(variant.text)[1] == split_references(original)[1]


def test_shuffle_needs_two_movable_sections_and_lists_all_orders_when_few():
    assert P.shuffle_variants("# T\n\nintro\n\n## Only\n\ntext\n\n## Conclusion\n\nend\n", 3, 0) == []
    few = P.shuffle_variants("# T\n\n## A\n\na\n\n## B\n\nb\n\n## C\n\nc\n", 10, 0)
    assert len(few) == 5  # 3! - 1 orders, never the original


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_strip_citations_removes_markers_and_keeps_the_prose(text):
    original = P.normalise(text)
    before = markers(original)
    variants = {v.name: v.text for v in P.strip_citation_variants(text, seed=0)}
    assert set(variants) == {"strip-half", "strip-markers", "strip-all"}
    assert len(markers(variants["strip-half"])) < len(before)
    assert markers(variants["strip-markers"]) == [] and markers(variants["strip-all"]) == []
    assert split_references(variants["strip-markers"])[1] == split_references(original)[1]
    assert split_references(variants["strip-all"])[1] == ""
    body_words = words(re.sub(r"\[\d+\]", "", split_references(original)[0]))
    for name, stripped in variants.items():
        assert words(re.sub(r"\[\d+\]", "", split_references(stripped)[0])) == body_words, name
    # inline links are not citation markers: the link in the sample report stays
    if text is REPORT:
        assert "[deployment timeline](https://jwst-archive.example/launch)" in variants["strip-all"]


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_inject_inserts_one_instruction_per_variant_at_each_place(text):
    original = P.normalise(text)
    variants = P.inject_variants(text, 5, seed=0)
    assert {v.name.split("-")[1] for v in variants} == set(P.PLACES)
    assert len({v.name.rsplit("-w", 1)[1] for v in variants}) == 5  # every wording once
    for variant in variants:
        assert P.undo(variant, original) == original
        assert len(variant.insertions) == 1
        inserted = variant.insertions[0][1].strip()
        assert inserted in P.INJECTIONS and "10" in inserted
        assert sum(variant.text.count(w) for w in P.INJECTIONS) == 1
        offset = variant.insertions[0][0]
        place = variant.name.split("-")[1]
        body_end = len(split_references(original)[0].rstrip())
        if place == "end":
            assert offset == body_end  # before the References
        elif place == "start":
            assert offset == len(original.split("\n\n")[0])  # right after the title
        else:
            assert 0 < offset < body_end


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_fake_citations_add_numbered_unrelated_references_and_are_reversible(text):
    original = P.normalise(text)
    before, _ = parse_citations(original)
    highest = max(c.index for c in before if c.index)
    for variant in P.fake_citation_variants(text, 3, seed=0):
        assert P.undo(variant, original) == original
        after, _ = parse_citations(variant.text)
        added = [c for c in after if c.index and c.index > highest]
        assert len(added) >= 2 and all(c.url.startswith("https://doi.org/10.5555/") for c in added)
        assert [c.index for c in added] == list(range(highest + 1, highest + 1 + len(added)))
        cited = {n for refs in markers(variant.text) for n in refs}
        assert {c.index for c in added} <= cited  # every fake reference is cited from the text
        assert words(re.sub(r"\[\d+\]", "", split_references(variant.text)[0])) == words(
            re.sub(r"\[\d+\]", "", split_references(original)[0])
        )  # the prose is unchanged


def test_fake_citations_create_a_references_list_when_there_is_none():
    text = "# T\n\nA sentence. Another sentence.\n"
    variant = P.fake_citation_variants(text, 1, seed=0)[0]
    assert "## References" in variant.text and P.undo(variant, P.normalise(text)) == P.normalise(text)


@pytest.mark.parametrize("text", [REPORT, FIXTURE], ids=["sample", "fixture"])
def test_null_report_keeps_the_headings_and_says_nothing(text):
    doc = P.Document.parse(text)
    headings = [b for b in doc.body if P.heading_level(b)]
    for variant in P.null_variants(text, 3, seed=0):
        null = P.Document.parse(variant.text)
        assert [b for b in null.body if P.heading_level(b)] == headings
        prose = [b for b in null.body if not P.heading_level(b)]
        assert prose and all(not re.search(r"\d", b) for b in prose)  # no figures
        assert markers(variant.text) == [] and "http" not in variant.text
        assert all(s in P.NULL_SENTENCES for b in prose for s in re.split(r"(?<=\.) ", b))


def test_null_report_of_a_report_without_headings_uses_generic_ones():
    text = P.null_report("Just one paragraph of text, no headings at all.", seed=0)
    assert text.startswith("# Research report") and "## Conclusion" in text


def test_conditions_change_sampling_not_text():
    variants = P.condition_variants(4, seed=10)
    assert [(v.temperature, v.seed) for v in variants] == [(0.7, 11), (1.0, 12), (0.7, 13), (1.0, 14)]
    assert all(v.text is None for v in variants)
    assert P.undo(variants[0], "x") == "x"


def test_evidence_targets_alter_one_figure_of_a_sentence_citing_readable_pages():
    original = P.normalise(REPORT)
    targets = P.evidence_targets(original, {2, 4}, 3, seed=0)
    assert len(targets) == 3
    assert targets == P.evidence_targets(original, {2, 4}, 3, seed=0)
    for target in targets:
        assert set(target.refs) <= {2, 4}
        assert target.sentence in " ".join(original.split())
        assert target.figure != target.replacement and target.altered != target.sentence
        assert target.altered.replace(target.replacement, target.figure, 1) == target.sentence
        assert "[" not in target.claim and target.replacement in target.claim
        before, after = float(target.figure.replace(",", "")), float(target.replacement.replace(",", ""))
        assert after - before >= 3 or after / before >= 1.4  # far outside rounding
        if not re.fullmatch(r"\d{4}", target.figure):  # (numbers.py reads years 1.5% apart as the same)
            assert mismatches(target.claim, target.sentence), target  # the altered claim contradicts the original
    assert {t.place for t in targets} == set(P.PLACES) and len({t.wording for t in targets}) == 3
    assert P.evidence_targets(original, set(), 3, seed=0) == []


def test_alter_figure_keeps_the_format():
    assert P.alter_figure("2018") == "2021"
    assert P.alter_figure("5.0") == "7.5" and P.alter_figure("9.66") == "14.49"
    assert P.alter_figure("344") == "517" and P.alter_figure("1,500") == "2,251"


def test_inject_page_and_evidence_report():
    target = P.evidence_targets(P.normalise(REPORT), {2}, 1, seed=0)[0]
    page = "First paragraph.\n\nSecond paragraph.\n\nThird paragraph."
    for place in P.PLACES:
        target.place = place
        injected = P.inject_page(page, target)
        paragraphs = injected.strip().split("\n\n")
        assert len(paragraphs) == 4 and target.claim in injected
        assert [p for p in paragraphs if "paragraph." in p] == page.split("\n\n")
        assert {"start": 0, "middle": 1, "end": 3}[place] == next(
            i for i, p in enumerate(paragraphs) if target.claim in p
        )
    report = P.evidence_report(target, {2: ("Cost page", "https://jwst-archive.example/cost")})
    citations, _ = parse_citations(report)
    assert [(c.index, c.url) for c in citations] == [(2, "https://jwst-archive.example/cost")]
    assert target.altered in report
