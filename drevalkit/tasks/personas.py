"""The persona library: YAML files of people who commission research, validated against the ``Persona`` model.

A persona file holds one domain's personas (``personas/*.yaml`` in the package is dreval's own library of ten
domains; ``--personas DIR`` reads a folder of the user's)::

    domain: Health
    personas:
      - id: rural-gp              # optional: derived from the name when left out
        name: Dr. Ines Arvidsson
        role: General practitioner
        affiliation: Kettle Valley Family Clinic
        subdomain: Primary care and chronic disease
        background: >
          ... 100-150 words ...

A file may also be a plain list of personas that each carry their ``domain``, or a JSONL file of persona objects.
Every problem is a ``PersonaError`` naming the file, the entry and the field; unknown keys are refused (a misspelt
``backround`` would otherwise vanish silently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import DrevalError
from ..files import ParseFailure, load_json, load_yaml
from ..resources import data_path
from ..schemas import Persona

DOMAINS = (
    "Transportation",
    "Politics",
    "Finance & Business",
    "History",
    "Software Development",
    "Industrial",
    "Sports & Fitness",
    "Health",
    "Science & Technology",
    "Education & Jobs",
)
REQUIRED = ("name", "role", "affiliation", "background", "subdomain")
BACKGROUND_WORDS = (100, 150)  # what dreval's own personas are written to; other files get a warning outside it
_WARN_WORDS = (40, 300)
PERSONA_SUFFIXES = (".yaml", ".yml", ".jsonl", ".json")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class PersonaError(DrevalError, ValueError):
    """A persona file or entry that cannot be used; the message names the file, the entry and the field."""


@dataclass
class PersonaLibrary:
    """Personas by domain, with where each came from and what looked wrong but was usable."""

    personas: list[Persona] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # persona id -> file (or "synthesized")
    warnings: list[str] = field(default_factory=list)

    def domains(self) -> list[str]:
        return list(dict.fromkeys(p.domain for p in self.personas))

    def ordered_domains(self) -> list[str]:
        """The domains in the order a run takes them: dreval's own in their fixed order, then the others as met."""
        present = self.domains()
        return [d for d in DOMAINS if d in present] + [d for d in present if d not in DOMAINS]

    def of(self, domain: str) -> list[Persona]:
        return [p for p in self.personas if p.domain == domain]

    def add(self, persona: Persona, source: str) -> None:
        if persona.id in self.sources:
            raise PersonaError(f"{source}: persona id {persona.id!r} is already used by {self.sources[persona.id]}")
        self.personas.append(persona)
        self.sources[persona.id] = source


def slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "persona"


def word_count(text: str) -> int:
    """Words of a text; in scripts written without spaces (CJK) about two characters make a word."""
    cjk = sum(
        1 for ch in text if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"
    )
    other = re.sub(r"[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]", " ", text)
    return len(other.split()) + (cjk + 1) // 2


def canonical_domain(name: str, where: str) -> str:
    """A domain name as written in ``DOMAINS`` when it is one of them (case and spacing forgiven), else as given."""
    cleaned = " ".join(str(name).split())
    for known in DOMAINS:
        if cleaned.lower() == known.lower() or cleaned.lower().replace("and", "&") == known.lower():
            return known
    if not cleaned:
        raise PersonaError(f"{where}: field 'domain': must not be empty")
    return cleaned


def _entries(path: Path) -> tuple[str | None, list[tuple[str, Any]]]:
    """(the file's domain, [(where, entry)]) of a persona file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(f"{path}: cannot read the persona file ({exc})") from None
    if path.suffix == ".jsonl":
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    entries.append((f"{path}:{number}", load_json(line)))
                except ParseFailure as exc:
                    raise PersonaError(f"{path}:{number}: {exc}") from None
        return None, entries
    try:
        data = load_json(text) if path.suffix == ".json" else load_yaml(text)
    except ParseFailure as exc:
        raise PersonaError(f"{path}: {exc}") from None
    domain = None
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"domain", "personas", "description"})
        if unknown:
            raise PersonaError(
                f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))} (expected domain, personas)"
            )
        domain = data.get("domain")
        if domain is not None and not isinstance(domain, str):
            raise PersonaError(f"{path}: field 'domain': must be text")
        data = data.get("personas")
        if data is None:
            raise PersonaError(f"{path}: no 'personas' list")
    if not isinstance(data, list):
        raise PersonaError(f"{path}: expected a list of personas (or a mapping with 'domain' and 'personas')")
    return domain, [(f"{path}: personas[{i}]", item) for i, item in enumerate(data)]


def persona_from(item: Any, where: str, domain: str | None = None) -> Persona:
    """One validated persona; ``domain`` is the file's, used when the entry has none."""
    if not isinstance(item, dict):
        raise PersonaError(f"{where}: a persona must be a mapping of fields")
    known = set(Persona.model_fields)
    unknown = sorted(set(item) - known)
    if unknown:
        name = item.get("name")
        where = f"{where} ({name})" if isinstance(name, str) and name.strip() else where
        raise PersonaError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))} (persona fields: {', '.join(sorted(known))})"
        )
    for name, value in item.items():
        if value is not None and not isinstance(value, str):
            raise PersonaError(f"{where}: field {name!r}: must be text, not {type(value).__name__}")
    values = {k: " ".join(v.split()) if k != "background" else v.strip() for k, v in item.items() if v is not None}
    label = f"{where} ({values['name']})" if values.get("name") else where
    raw_domain = values.get("domain") or domain
    if not raw_domain:
        raise PersonaError(f"{label}: field 'domain': missing (give it on the persona or at the top of the file)")
    values["domain"] = canonical_domain(raw_domain, label)
    for name in REQUIRED:
        if not values.get(name):
            raise PersonaError(f"{label}: field {name!r}: missing or empty")
    values.setdefault("id", f"{slug(values['domain'], 16)}-{slug(values['name'])}")
    if not _ID.match(values["id"]):
        raise PersonaError(
            f"{label}: field 'id': {values['id']!r} must be letters, digits, '.', '_' or '-' (at most 80)"
        )
    values["background"] = " ".join(values["background"].split())
    try:
        return Persona.model_validate(values)
    except ValidationError as exc:  # pragma: no cover - every field is text, checked above
        first = exc.errors(include_url=False)[0]
        raise PersonaError(f"{label}: field {'.'.join(map(str, first['loc']))!r}: {first['msg']}") from None


def persona_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise PersonaError(f"{folder}: no such persona folder or file")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in PERSONA_SUFFIXES)
    if not files:
        raise PersonaError(f"{folder}: no persona files (*.yaml, *.yml, *.jsonl, *.json)")
    return files


def load_personas(folder: Path | None = None, domains: list[str] | None = None) -> PersonaLibrary:
    """Every persona of the YAML/JSON(L) files in ``folder`` (dreval's own library when None); a persona id used
    twice, in one file or two, is refused naming both places. ``domains`` keeps only those domains (names as in
    ``DOMAINS``, case forgiven); a requested domain with no persona is an error."""
    library = PersonaLibrary()
    source_folder = Path(folder) if folder is not None else data_path("personas")
    for path in persona_files(source_folder):
        file_domain, entries = _entries(path)
        if not entries:
            library.warnings.append(f"{path}: holds no personas")
        for where, item in entries:
            persona = persona_from(item, where, file_domain)
            library.add(persona, where)
            words = word_count(persona.background)
            if not _WARN_WORDS[0] <= words <= _WARN_WORDS[1]:
                library.warnings.append(
                    f"{where} ({persona.id}): background has {words} words; a concrete "
                    f"{BACKGROUND_WORDS[0]}-{BACKGROUND_WORDS[1]} word background makes better "
                    "tasks"
                )
    if domains:
        wanted = [canonical_domain(d, "--domain") for d in domains]
        missing = [d for d in wanted if d not in library.domains()]
        if missing:
            raise PersonaError(
                f"no personas for domain(s) {', '.join(map(repr, missing))} in {source_folder} "
                f"(it has: {', '.join(library.domains())})"
            )
        kept = PersonaLibrary(warnings=library.warnings)
        for persona in library.personas:
            if persona.domain in wanted:
                kept.add(persona, library.sources[persona.id])
        library = kept
    if not library.personas:
        raise PersonaError(f"{source_folder}: no personas found")
    return library


def dump_personas(personas: list[Persona]) -> str:
    """Personas as a persona YAML file (a list; every persona carries its domain)."""
    items = [{k: v for k, v in p.model_dump().items() if v} for p in personas]
    return yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=110)
