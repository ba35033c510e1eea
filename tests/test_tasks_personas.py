"""The persona library and persona files: dreval's own personas, and the errors a user's files get."""

import re
from collections import Counter
from pathlib import Path

import pytest

from drevalkit.tasks.personas import DOMAINS, PersonaError, dump_personas, load_personas, word_count

ROOT = Path(__file__).resolve().parent.parent


def test_the_library_covers_ten_domains_with_concrete_personas():
    library = load_personas()
    assert library.warnings == []
    counts = Counter(p.domain for p in library.personas)
    assert set(counts) == set(DOMAINS) and len(DOMAINS) == 10
    assert all(n >= 5 for n in counts.values()), counts
    assert len(library.personas) >= 50
    ids = [p.id for p in library.personas]
    names = [p.name for p in library.personas]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for p in library.personas:
        assert p.role and p.affiliation and p.subdomain and p.name, p.id
        assert 100 <= word_count(p.background) <= 150, (p.id, word_count(p.background))
    backgrounds = [p.background for p in library.personas]
    assert len(set(backgrounds)) == len(backgrounds)
    # experts and ordinary people: some roles are professional titles, some are everyday situations
    ordinary = [
        p
        for p in library.personas
        if re.search(
            r"parent|student|retired|nurse approaching|commuter|"
            r"caring|looking for work|amateur|owner",
            p.role,
            re.I,
        )
    ]
    assert len(ordinary) >= 10
    assert not (ROOT / "personas" / "personas.jsonl").exists()


def test_domain_filter_and_unknown_domain(tmp_path):
    health = load_personas(domains=["health", "History"])
    assert {p.domain for p in health.personas} == {"Health", "History"}
    with pytest.raises(PersonaError, match="no personas for domain\\(s\\) 'Cooking'"):
        load_personas(domains=["Cooking"])


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """domain: Health
personas:
  - name: Lena Odum
    role: Midwife
    affiliation: A district maternity unit
    subdomain: Maternity services
    background: Lena has delivered babies for twenty years and now plans services for a rural district.
"""


def test_user_folder_yaml_and_jsonl(tmp_path):
    folder = tmp_path / "mine"
    _write(folder, "health.yaml", GOOD)
    _write(
        folder,
        "more.jsonl",
        '{"id": "p2", "domain": "Finance and Business", "name": "Omar Lind", "role": "Baker", '
        '"affiliation": "Own shop", "subdomain": "Flour prices", "background": "Runs a bakery."}\n',
    )
    library = load_personas(folder)
    assert [p.id for p in library.personas] == ["health-lena-odum", "p2"]
    assert library.of("Finance & Business")[0].name == "Omar Lind"  # domain names are canonicalised
    assert any("background has" in w for w in library.warnings)  # short backgrounds are usable, with a warning
    assert load_personas(folder / "health.yaml").personas[0].role == "Midwife"
    again = tmp_path / "again"
    _write(again, "dump.yaml", dump_personas(library.personas))
    assert [p.model_dump() for p in load_personas(again).personas] == [p.model_dump() for p in library.personas]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            GOOD.replace("    background: Lena", "    backround: Lena"),
            r"health.yaml: personas\[0\] \(Lena Odum\): unknown "
            r"field\(s\) 'backround'",
        ),
        (GOOD.replace("    role: Midwife\n", ""), r"health.yaml: personas\[0\] \(Lena Odum\): field 'role': missing"),
        (GOOD.replace("    role: Midwife", "    role: 42"), r"personas\[0\]: field 'role': must be text, not int"),
        (GOOD.replace("domain: Health\n", ""), r"field 'domain': missing"),
        (GOOD.replace("  - name: Lena Odum", "  - id: bad id!\n    name: Lena Odum"), r"field 'id': 'bad id!'"),
        (GOOD.replace("personas:", "persons:"), r"unknown top-level key\(s\) 'persons'"),
        ("domain: [unclosed", r"health.yaml: malformed YAML .*line 1"),
        ("- just a string\n", r"personas\[0\]: a persona must be a mapping"),
    ],
)
def test_errors_name_the_file_and_field(tmp_path, text, expected):
    _write(tmp_path / "p", "health.yaml", text)
    with pytest.raises(PersonaError, match=expected):
        load_personas(tmp_path / "p")


def test_a_repeated_id_names_both_files(tmp_path):
    folder = tmp_path / "p"
    _write(folder, "a.yaml", GOOD)
    _write(folder, "b.yaml", GOOD)
    with pytest.raises(
        PersonaError,
        match=r"b.yaml: personas\[0\]: persona id 'health-lena-odum' is already used "
        r"by .*a.yaml: personas\[0\]",
    ):
        load_personas(folder)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(PersonaError, match="no such persona folder"):
        load_personas(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PersonaError, match="no persona files"):
        load_personas(tmp_path / "empty")


@pytest.mark.parametrize(
    ("name", "text"), [("deep.yaml", "[" * 5000 + "]" * 5000), ("big.yaml", "domain: " + "9" * 100_000)]
)
def test_a_hostile_persona_file_is_a_persona_error(tmp_path, name, text):
    _write(tmp_path / "p", name, text)
    with pytest.raises(PersonaError, match=f"{name}: unreadable YAML"):
        load_personas(tmp_path / "p")
