"""Label files for dreval agree: the shipped labelled set is true to the sample corpus, label files are checked, and
human claims are matched to dreval's one to one by similarity."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from drevalkit.documents import extract_text_bounded
from drevalkit.factcheck.verify import quote_in
from drevalkit.schemas import Claim
from drevalkit.validity.labels import LabelError, match_claims, read_labels, resolve, similarity

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LABELS = SAMPLES / "labels"


def corpus_pages() -> dict[str, str]:
    urls = json.loads((SAMPLES / "corpus" / "urls.json").read_text())
    return {
        url: extract_text_bounded(
            "text/html" if name.endswith(".html") else "text/plain", (SAMPLES / "corpus" / name).read_bytes(), None
        )[0]
        for name, url in urls.items()
    }


# ------------------------------------------------------------------------------------------- the labelled set


def test_the_shipped_claim_labels_are_true_to_the_sample_reports_and_corpus():
    kind, labels = read_labels(LABELS / "claims.jsonl")
    assert kind == "claims" and len(labels) >= 60
    counts = Counter(label.label for label in labels)
    assert counts["right"] >= 30 and counts["wrong"] >= 10 and counts["unknown"] >= 3
    assert len({label.report for label in labels}) >= 3
    pages = corpus_pages()
    for label in labels:
        report = resolve(LABELS / "claims.jsonl", label.report).read_text()
        assert " ".join(label.sentence.split()) in " ".join(report.split()), label.line  # the sentence is there
        assert label.reason.strip() and label.claim.strip()
        evidence = label.model_extra.get("evidence") or []
        if label.label == "unknown":
            continue
        # every right or wrong label names the page that settles it and quotes it exactly
        assert label.source in pages and evidence, label.line
        for quote in evidence:
            assert any(quote_in(quote, [text]) for text in pages.values()), (label.line, quote)
        assert any(quote_in(quote, [pages[label.source]]) for quote in evidence), label.line


def test_both_planted_errors_and_the_altered_figures_are_labelled_wrong():
    _, labels = read_labels(LABELS / "claims.jsonl")
    wrong = [label for label in labels if label.label == "wrong"]
    sentences = " ".join(label.sentence for label in wrong)
    assert "capped development costs at US$6 billion" in sentences  # ERRATA 1, in report.md and the demo
    assert "seven-layer sunshield" in sentences  # ERRATA 2
    assert sum(label.report == "reports/jwst-altered.md" for label in wrong) >= 8
    errata = (SAMPLES / "ERRATA.md").read_text()
    for uncited in ("most complex space science observatory", "several times more hours"):
        assert uncited in errata
        assert any(uncited in label.sentence and label.label == "unknown" for label in labels)


def test_the_shipped_pairs_name_existing_reports_and_tasks():
    kind, pairs = read_labels(LABELS / "pairs.jsonl")
    assert kind == "pairs" and len(pairs) >= 5
    assert {p.preferred for p in pairs} == {"a", "b", "tie"}
    for pair in pairs:
        for path in (pair.report_a, pair.report_b, pair.task) + ((pair.rubric,) if pair.rubric else ()):
            assert resolve(LABELS / "pairs.jsonl", path).is_file(), path
        assert pair.reason


# ------------------------------------------------------------------------------------------------ label files


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"report": "r.md", "claim": "x", "label": "maybe"}'], "line 1: label"),
        (['{"report": "r.md", "label": "right"}'], "needs a 'claim' or a 'sentence'"),
        (['{"report": "r.md", "claim": "x", "label": "right"}', "not json"], "line 2: malformed JSON"),
        (
            [
                '{"report": "r.md", "claim": "x", "label": "right"}',
                '{"task": "t", "report_a": "a", "report_b": "b", "preferred": "a"}',
            ],
            "mixes",
        ),
        (['{"task": "t", "report_a": "a", "report_b": "b", "preferred": "c"}'], "preferred"),
        (["", "  "], "no labels"),
        (["[1, 2]"], "expected a JSON object"),
    ],
    ids=["bad-label", "no-text", "not-json", "mixed", "bad-preference", "empty", "not-object"],
)
def test_bad_label_files_are_refused_with_the_line(tmp_path, lines, message):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(LabelError, match=message):
        read_labels(path)


def test_labels_accept_case_and_extra_fields(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"report": "r.md", "sentence": "S.", "label": "Right", "note": "kept", "id": "x1"}\n')
    _, labels = read_labels(path)
    assert labels[0].label == "right" and labels[0].model_extra["note"] == "kept"


# --------------------------------------------------------------------------------------------------- matching


def test_similarity_is_bounded_and_cares_about_numbers():
    text = "In November 2011 Congress capped development costs at US$6 billion [2][3]."
    assert similarity(text, "In November 2011 Congress capped development costs at US$6 billion.") == 1.0
    assert similarity("", text) == 0.0
    other_figure = similarity(text, "In November 2011 Congress capped development costs at US$8 billion.")
    other_year = similarity(text, "In November 2014 Congress capped development costs at US$9 billion.")
    assert 0.5 < other_figure < 1.0 and other_year < other_figure
    assert similarity("Webb launched on an Ariane 5.", "Hubble orbits about 540 km above Earth.") < 0.2
    assert similarity("NASA spent 1,500 million", "nasa spent 1500 million") == 1.0


def _claim(i: int, text: str, sentence: str | None = None) -> Claim:
    return Claim(id=f"c{i}", text=text, sentence=sentence or text)


def test_matching_is_one_to_one_most_similar_first_and_bounded():
    from drevalkit.validity.labels import ClaimLabel

    labels = [
        ClaimLabel(report="r", claim="Webb's mirror is 6.5 m across.", label="right"),
        ClaimLabel(report="r", claim="Webb's mirror has 18 segments.", label="right"),
        ClaimLabel(report="r", claim="Something nobody checked about budgets.", label="unknown"),
    ]
    claims = [
        _claim(1, "Webb's mirror has 18 hexagonal segments.", "The mirror is 6.5 m across and has 18 segments."),
        _claim(2, "Webb's primary mirror is 6.5 m across."),
    ]
    matched = match_claims(labels, claims)
    assert matched[0][0] == 1 and matched[1][0] == 0 and 2 not in matched
    assert all(value >= 0.5 for _, value in matched.values())
    assert match_claims(labels, claims[:1]) == {1: match_claims(labels, claims[:1])[1]}  # one claim, one label
    assert match_claims(labels, claims, min_similarity=0.99) == {}


def test_a_hostile_label_line_is_a_label_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(LabelError, match="line 1: unreadable JSON"):
        read_labels(path)
