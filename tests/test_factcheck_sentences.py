"""Citation attribution on a hand-labelled set of report fragments, with both sentence splitters.

``tests/data/attribution.jsonl``: one fragment a line, each with the sentences segmentation must keep, in order:
the start of the sentence text (and, for some, its end: the markers must stay in the text), the reference numbers
it cites (``refs``) and the URLs it cites inline that are not a numbered reference's (``urls``).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from drevalkit.citations import parse_citations
from drevalkit.factcheck import sentences as segmentation
from drevalkit.factcheck import splitter as splitting
from drevalkit.schemas import Report

DATA = Path(__file__).resolve().parent / "data" / "attribution.jsonl"
ITEMS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def _blank():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def _model():
    try:
        return splitting.model_splitter()
    except OSError:
        pytest.skip(f"{splitting.SPACY_MODEL} is not installed")


_PIPELINES = {"model": _model, "blank": _blank}
_LOADED: dict[str, object] = {}


@pytest.fixture(params=list(_PIPELINES))
def splitter(request, monkeypatch):
    """Segmentation with one of the two sentence splitters."""
    if request.param not in _LOADED:
        _LOADED[request.param] = _PIPELINES[request.param]()
    nlp = _LOADED[request.param]
    monkeypatch.setattr(segmentation, "sentence_splitter", lambda: nlp)
    return request.param


def _report(text: str) -> Report:
    citations, meta = parse_citations(text)
    return Report(system="s", task_id="t", text=text, citations=citations, meta=meta)


def _score(item: dict) -> tuple[int, int, list[str]]:
    """(correct sentences, sentences counted, mistakes) of one fragment; an unexpected sentence counts as wrong."""
    got = segmentation.segment(_report(item["text"]))
    mistakes: list[str] = []
    correct = 0
    position = 0
    for want in item["sentences"]:
        match = next((i for i in range(position, len(got)) if got[i].text.startswith(want["starts"])), None)
        if match is None:
            mistakes.append(f"{item['id']}: no sentence starting {want['starts']!r} in {[s.text for s in got]}")
            continue
        for extra in got[position:match]:
            mistakes.append(f"{item['id']}: unexpected sentence {extra.text!r}")
        position = match + 1
        sentence = got[match]
        problems = []
        if "ends" in want and not sentence.text.endswith(want["ends"]):
            problems.append(f"does not end with {want['ends']!r}")
        if sentence.cited_refs != want["refs"]:
            problems.append(f"refs {sentence.cited_refs} != {want['refs']}")
        if sentence.cited_urls != want["urls"]:
            problems.append(f"urls {sentence.cited_urls} != {want['urls']}")
        if problems:
            mistakes.append(f"{item['id']}: {sentence.text!r} " + "; ".join(problems))
        else:
            correct += 1
    extras = got[position:]
    mistakes.extend(f"{item['id']}: unexpected sentence {s.text!r}" for s in extras)
    unexpected = sum("unexpected sentence" in m for m in mistakes)
    return correct, len(item["sentences"]) + unexpected, mistakes


def test_labelled_set_covers_every_style():
    assert sum(len(item["sentences"]) for item in ITEMS) >= 40
    styles = " ".join(item["style"] for item in ITEMS)
    for style in (
        "claim [n].",
        "claim.[n]",
        "claim. [n] Next sentence.",
        "[n, m]",
        "[n–m]",
        "[^n]",
        "【n†source】",
        "【n†L10-L20】",
        "[n†L10-L20]",
        "superscript",
        "[title](url)",
        "(https://...)",
        "IPv6",
        "end of a paragraph",
        "line break",
        "list items",
        "table rows",
        "not citations",
        "no citation",
    ):
        assert style in styles, style


def test_attribution_accuracy_on_the_labelled_set(splitter):
    correct = counted = 0
    mistakes: list[str] = []
    for item in ITEMS:
        c, n, m = _score(item)
        correct, counted = correct + c, counted + n
        mistakes.extend(m)
    accuracy = correct / counted
    print(f"\nattribution accuracy with the {splitter} splitter: {correct}/{counted} = {accuracy:.1%}")
    assert accuracy == 1.0, "\n".join(mistakes)


def test_markers_stay_in_the_sentence_text_and_plain_text_drops_them(splitter):
    text = "Module prices fell by half in 2023, driven by solar panels. [38] Most significantly, storage doubled.[39]"
    first, second = segmentation.segment(_report(text))
    assert first.text == "Module prices fell by half in 2023, driven by solar panels. [38]" and first.cited_refs == [38]
    assert first.plain == "Module prices fell by half in 2023, driven by solar panels."
    assert second.text == "Most significantly, storage doubled.[39]"
    assert second.plain == "Most significantly, storage doubled."


def test_inline_urls_of_numbered_references_are_cited_by_number(splitter):
    text = (
        "The reserve opened in 2017 per the [operator](https://src.example/1). A blog (https://blog.example/x) "
        "disagrees [2].\n\n## References\n[1] Operator. https://src.example/1\n[2] Review. https://src.example/2\n"
    )
    first, second = segmentation.segment(_report(text))
    assert (first.cited_refs, first.cited_urls) == ([1], [])
    assert (second.cited_refs, second.cited_urls) == ([2], ["https://blog.example/x"])
    assert second.text == "A blog (https://blog.example/x) disagrees [2]."


def test_flattened_tables_are_text_never_header_claims(splitter):
    text = (
        "| Country | GW | China | 35 |\n|---|---|---|---|\n| India | 12 | Japan | 8 |\n\n"  # a data row in the header
        "| Country | GW |\n|---|---|\n| India | 12 | Japan | 8 |\n\n"  # a row of another width
        "| Country | GW | |---|---| | China | 35 |\n\n"  # the whole table on one line
        "| Country | GW |\n| China | 35 |\n\n"  # no delimiter row
        "| Country | Country |\n|---|---|\n| China | 35 |\n\n"  # repeated names
        "| | 2022 | 2023 |\n|---|---|---|\n| China | 30 | 35 |\n\n"  # years are column names; first may be empty
        "Country GW China 35 India 12\n"  # pasted as plain text
    )
    blocks = [block for _, block in segmentation.content_blocks(text)]
    assert blocks == [
        "Country; GW; China; 35",
        "India; 12; Japan; 8",
        "India; 12; Japan; 8",
        "Country; GW; China; 35",
        "China; 35",
        "China; 35",
        "China; 2022: 30; 2023: 35",
        "Country GW China 35 India 12",
    ]
    sentences = segmentation.segment(_report(text))
    assert [s.text for s in sentences] == blocks  # a table row is one sentence, the splitter never cuts it


def test_segmentation_stays_fast_on_a_long_marker_heavy_report(splitter):
    paragraph = (
        "Solar grew 20% in 2023 [1][2]. Wind grew.[3] See the [IEA review](https://iea.example/a_b) and "
        "(https://x.example/y). Hydro¹ fell 【4†source】. [5] Storage rose [6-8].\n\n"
    )
    text = "# Report\n\n" + paragraph * (50_000 // len(paragraph) + 1)
    report = _report(text)
    started = time.perf_counter()
    sentences = segmentation.segment(report)
    elapsed = time.perf_counter() - started
    assert len(sentences) == 5 * (50_000 // len(paragraph) + 1)
    assert {tuple(s.cited_refs) for s in sentences} == {(1, 2), (3,), (), (1, 4, 5), (6, 7, 8)}
    assert elapsed < 20, elapsed


def test_a_formula_is_never_cut_into_sentences_nor_loses_its_marks(splitter):
    # the model splitter cut the first sentence after "C_{2021} /" before formulas were kept whole
    text = (
        "The growth factor is \\( g = C_{2021} / C_{1997} \\approx 19.4 \\), and the slip is $t_{launch} - "
        "t_{plan} = 14$ years [1]. For a mirror $D = 6.5$ m the limit is\n\\[ \\theta = 1.22 \\lambda / D. \\]\n"
        "where $x_1*x_2*x_3$ and $a_i b_i$ keep their marks [2]."
    )
    sentences = [s.text for s in segmentation.segment(_report(text))]
    assert sentences == [
        "The growth factor is \\( g = C_{2021} / C_{1997} \\approx 19.4 \\), and the slip is $t_{launch} - "
        "t_{plan} = 14$ years [1].",
        "For a mirror $D = 6.5$ m the limit is \\[ \\theta = 1.22 \\lambda / D. \\] where $x_1*x_2*x_3$ and "
        "$a_i b_i$ keep their marks [2].",
    ]


def test_an_agents_narration_is_never_a_sentence_to_check(splitter):
    # the narrated lines and paragraphs are chrome (removed when the report is read); a narration sentence in a
    # paragraph of findings, or in a list item, stays in the text but is not a sentence the extractor sees
    from drevalkit.ingest.importers import load_report

    path = Path(__file__).resolve().parent / "data" / "import" / "narration" / "api-agent-heat-pumps.md"
    report = load_report(path, system="s", task_id="t", max_bytes=1_000_000)
    texts = [s.text for s in segmentation.segment(report)]
    assert "Let me check the 2023 figure next." in report.text
    assert not any("Let me" in text or "I'll" in text or "I need" in text for text in texts), texts
    assert texts[:3] == [
        "Sales across 21 European countries grew from about 1.5 million units in 2019 to about 3 million in 2022 [1].",
        "Sales then fell by about 5% in 2023, the first decline in a decade [1].",
        "High interest rates and falling gas prices made the case for switching weaker in 2023 [2].",
    ]
    assert texts[-1] == "Installers remain scarce in most markets [3]."


CHATGPT_DOCX = """Heat pump sales in Europe fell by about 5% in 2023 [1][4]. Germany's sales fell the most [2].
Installers remain scarce in most markets.
https://installers.example/survey

[1] [4] [8] European heat pump market report 2024
https://heatpumps.example/market-2024
[2] Why heat pump sales fell in 2023
https://energy-news.example/heat-pumps-2023
[19] https://www.mdpi.com/1996-1073/17/2/311
- [Installer survey 2024](https://installers.example/survey-2024)
"""
GEMINI_DOCS = """Poland's sales dropped by more than a third in 2023 [4]. Italy's fell after its tax credit was cut [2].

#### 引用的著作

1. European heat pump market report 2024, accessed May 5, 2025, https://heatpumps.example/market-2024
2. 意大利税收抵免的变化，访问时间为 五月 5, 2025， https://tax.example/it-credit
3. Wärmepumpen-Absatz 2023, abgerufen am 5. Mai 2025, https://waerme.example/absatz
4. Installer survey, 2024, https://installers.example/survey
5. Heat pump tax credits compared, https://credits.example/compare
"""


@pytest.mark.parametrize(("name", "text"), [("chatgpt-docx", CHATGPT_DOCX), ("gemini-docs", GEMINI_DOCS)])
def test_source_list_lines_are_never_sentences_wherever_they_stand(splitter, name, text):
    sentences = segmentation.segment(_report(text))
    texts = [s.text for s in sentences]
    if name == "chatgpt-docx":
        assert texts == [
            "Heat pump sales in Europe fell by about 5% in 2023 [1][4].",
            "Germany's sales fell the most [2].",
            # a URL alone on the line after a sentence cites it
            "Installers remain scarce in most markets. <https://installers.example/survey>",
        ]
        assert sentences[-1].cited_urls == ["https://installers.example/survey"]
    else:  # the entries, under a heading in the report's language, each say when the source was accessed
        assert texts == [
            "Poland's sales dropped by more than a third in 2023 [4].",
            "Italy's fell after its tax credit was cut [2].",
        ]
    assert not any("example/" in s.plain or "accessed" in s.text or "mdpi" in s.text for s in sentences)


def test_a_numbered_finding_with_a_link_is_still_a_sentence(splitter):
    # one numbered line ending in a URL, not in a list of such lines and with no access date, is a finding
    text = (
        "1. The plant opened in 1998 https://plant.example/history\n2. It was expanded in 2020 for 5 million euros.\n"
    )
    assert [s.plain for s in segmentation.segment(_report(text))] == [
        "The plant opened in 1998 https://plant.example/history",
        "It was expanded in 2020 for 5 million euros.",
    ]


def test_reports_segmented_at_once_share_one_loaded_pipeline():
    """Issue 20: every thread that asked for the splitter before the first load finished loaded its own (six loads,
    seconds each, in a run of 64 reports)."""
    splitting._load_splitter.cache_clear()
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: segmentation.sentence_splitter(), range(4)))
    assert all(nlp is loaded[0] for nlp in loaded)
    assert splitting._load_splitter.cache_info().misses == 1


def test_without_the_model_the_sentencizer_splits_and_says_so(monkeypatch):
    """The splitter's name (in the fact-check's version) and the pipeline loaded agree, without loading to tell."""
    monkeypatch.setattr(splitting.importlib.util, "find_spec", lambda name: None)
    splitting.splitter_name.cache_clear()
    splitting._load_splitter.cache_clear()
    try:
        assert splitting.splitter_name() == "sentencizer"
        assert segmentation.sentence_splitter().pipe_names == ["sentencizer"]
    finally:
        splitting.splitter_name.cache_clear()
        splitting._load_splitter.cache_clear()
    monkeypatch.undo()
    if splitting.splitter_name() == "senter":
        assert segmentation.sentence_splitter().pipe_names == ["senter"]


def test_the_splitter_is_the_sentence_recogniser_batched_like_one_block_at_a_time():
    """Only the model's ``senter`` runs, and batching the blocks through ``nlp.pipe`` changes no boundary
    (labelled set, the sample reports and corpus)."""
    try:
        lean = splitting.model_splitter()
    except OSError:
        pytest.skip(f"{splitting.SPACY_MODEL} is not installed")
    blocks = [block for text in _labelled_and_sample_texts() for block in text.split("\n\n") if block.strip()]
    assert len(blocks) > 100
    assert lean.pipe_names == ["senter"]
    one_by_one = [segmentation._sentence_starts(lean, [block])[0] for block in blocks]
    assert segmentation._sentence_starts(lean, blocks) == one_by_one
    assert sum(map(len, one_by_one)) > 2 * len(blocks)  # blocks of several sentences, not one each


def test_the_sentence_recogniser_keeps_the_parsers_sentences(monkeypatch):
    """The parser set the boundaries before the ``senter`` (five times cheaper): of the sentences it found in the
    labelled set and the samples, all but two are found again (the other two: a colon the parser ended a sentence
    at, now one sentence)."""
    import spacy

    try:
        parser = spacy.load(splitting.SPACY_MODEL, exclude=["tagger", "attribute_ruler", "lemmatizer", "ner"])
        lean = splitting.model_splitter()
    except OSError:
        pytest.skip(f"{splitting.SPACY_MODEL} is not installed")
    found = {}
    for name, nlp in (("parser", parser), ("senter", lean)):
        monkeypatch.setattr(segmentation, "sentence_splitter", lambda nlp=nlp: nlp)
        found[name] = [s.text for text in _labelled_and_sample_texts() for s in segmentation.segment(_report(text))]
    kept = set(found["senter"])
    assert len(found["parser"]) > 200
    assert sum(text not in kept for text in found["parser"]) <= 2, [t for t in found["parser"] if t not in kept]


def _labelled_and_sample_texts() -> list[str]:
    root = Path(__file__).resolve().parent.parent
    return [item["text"] for item in ITEMS] + [
        path.read_text(encoding="utf-8") for path in sorted((root / "samples").rglob("*.md"))
    ]
