"""Finding the results a leaderboard is built from, reading each one (or saying in words a user can act on why a
file is not a result), and telling what would make results unfit to compare.

A results folder may hold dreval's own outputs by mistake (a leaderboard, a run manifest, a judge card...): they
are recognised and set apart from files that are broken, so one is ignored and the other counted as unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..files import ParseFailure, load_json
from ..schemas import Rubric, Scorecard
from .models import LeaderboardError

# what dreval writes that is not a result: by name (when the file is not a valid result, so a task named "run"
# still counts), and by its marker, a top-level ``dreval_version`` (results carry theirs in ``provenance``)
_OWN_NAMES = {
    "leaderboard.json": "a dreval leaderboard",
    "run.json": "a dreval run manifest",
    "agreement.json": "a dreval agreement report (dreval agree)",
    "urls.json": "a dreval URL map",
    "factcheck.json": "a dreval stress fact-check",
}
_OWN_SUFFIXES = {".quality.json": "a dreval stress quality result", ".meta.json": "a report's metadata sidecar"}
_OWN_MARKERS = (
    (("systems", "method"), "a dreval leaderboard"),
    (("jobs", "scored"), "a dreval run manifest"),
    (("labels_file",), "a dreval agreement report (dreval agree)"),
    (("key", "judge"), "a dreval judge card (dreval stress)"),
)


@dataclass
class FoundResults:
    """Every ``.json`` file of a results folder, sorted into results, unreadable files and dreval's own outputs
    (each of the last two with why)."""

    cards: list[tuple[Scorecard, Path]]
    unreadable: list[tuple[Path, str]]
    ignored: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class ResultFile:
    """One ``.json`` file read as a result: the Scorecard, or why it is none; ``own`` when it is one of dreval's
    own outputs (a leaderboard, a run manifest, a judge card...), which a results folder may hold by mistake."""

    card: Scorecard | None
    why: str = ""
    own: bool = False


def _own_output(file: Path, data: object) -> str:
    if isinstance(data, dict) and "dreval_version" in data and "provenance" not in data:
        for keys, what in _OWN_MARKERS:
            if all(key in data for key in keys):
                return what
        return "a dreval output file"
    for suffix, what in _OWN_SUFFIXES.items():
        if file.name.endswith(suffix):
            return what
    return _OWN_NAMES.get(file.name, "")


def read_result(file: Path) -> ResultFile:
    """The result in ``file``, or why it is not one in words a user can act on: the file cannot be read, is not
    valid JSON (malformed, with where), is dreval's own output, or is JSON that is not a Scorecard (with the first error)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return ResultFile(None, f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
    try:
        return ResultFile(Scorecard.model_validate_json(text))
    except ValidationError as exc:
        error = exc
    if not text.strip():
        return ResultFile(None, "an empty file, not a dreval result")
    try:
        data = load_json(text)
    except ParseFailure as exc:
        return ResultFile(None, str(exc))
    own = _own_output(file, data)
    if own:
        return ResultFile(None, f"{own}, not a result", own=True)
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    if len(lines) > 2:  # "N validation errors for Scorecard", then the first field and its message
        first += f": {lines[1].strip()} {lines[2].strip()}"
    return ResultFile(None, f"not a dreval result ({first[:200]})")


def results_root(path: Path) -> Path:
    """The results folder: ``OUT/results`` for an output folder, the folder itself when it is a results folder,
    and its parent for one system's folder inside a results folder (``OUT/results/<system>``), an easy mistake
    that must not make a leaderboard of one system nor write one into the results."""
    path = Path(path)
    if (path / "results").is_dir():
        return path / "results"
    if _system_folder(path):
        return path.parent
    return path


def _system_folder(path: Path) -> bool:
    """A folder of result files (no folders of them) inside a folder named ``results``."""
    return (
        path.parent.name == "results"
        and path.is_dir()
        and any(path.glob("*.json"))
        and not any(sub.is_dir() and any(sub.glob("*.json")) for sub in path.iterdir())
    )


def distinct_roots(paths: list[Path]) -> list[Path]:
    """The results folder of each of ``paths``. A folder given twice (as itself and as its ``results/``, say), or
    one inside another, would count its results twice: that is refused, naming both."""
    roots = [results_root(path) for path in paths]
    resolved = [root.resolve() for root in roots]
    for i, later in enumerate(resolved):
        for j, earlier in enumerate(resolved[:i]):
            if later == earlier or later.is_relative_to(earlier) or earlier.is_relative_to(later):
                raise LeaderboardError(
                    f"{paths[j]} and {paths[i]} are the same results folder, or one holds the other "
                    f"({roots[j]}, {roots[i]}): give each output folder once"
                )
    return roots


def relative_path(path: Path, start: Path) -> str:
    """``path`` relative to the folder ``start`` (with ``..`` when it is elsewhere), as a link or listing writes
    it."""
    return Path(os.path.relpath(path, start)).as_posix()


def output_folder(root: Path) -> Path:
    """The output folder a results folder ``root`` belongs to (``OUT`` of ``OUT/results``); a results folder
    named otherwise is taken as its own output folder."""
    return root.parent if root.name == "results" else root


def output_root(path: Path) -> Path:
    """The output folder whose ``leaderboard.*`` and ``html/`` go with the results of ``path`` (an output folder,
    its results folder or a system folder in it); never a folder inside ``results/``."""
    return output_folder(results_root(path))


def find_results(path: Path) -> FoundResults:
    """Every result file under ``path`` (an output folder, its ``results`` folder or a system folder in it); files
    that are not valid results are listed with why, and dreval's own outputs among them apart."""
    root = results_root(path)
    if not root.is_dir():
        raise LeaderboardError(f"{path}: no such folder")
    found = FoundResults([], [])
    for file in sorted(root.rglob("*.json")):
        if file.name.startswith("."):
            continue
        read = read_result(file)
        if read.card is not None:
            found.cards.append((read.card, file))
        else:
            (found.ignored if read.own else found.unreadable).append((file, read.why))
    return found


def rubric_kinds(root: Path) -> dict[str, dict[str, str]]:
    """Dimension kinds per rubric hash, from the frozen rubrics of the output folder (when there)."""
    kinds: dict[str, dict[str, str]] = {}
    folder = output_folder(root) / "rubrics"
    if folder.is_dir():
        for file in folder.glob("*.json"):
            try:
                rubric = Rubric.model_validate_json(file.read_text(encoding="utf-8"))
            except (OSError, ValidationError, ValueError):
                continue
            kinds[rubric.hash or rubric.content_hash()] = {d.id: d.kind for d in rubric.dimensions}
    return kinds


def judge_label(card: Scorecard) -> str:
    """The judge behind a result as one line: what two results must share to be compared."""
    j = card.provenance.judge
    parts = [j.backend, j.model, j.identity or j.endpoint, j.model_sha256[:12], j.structured_output]
    return " · ".join(p for p in parts if p)


def mixing(cards: Iterable[Scorecard]) -> list[str]:
    """What differs between results that a comparison needs equal: the rubric of a task, the judge, the prompt
    version of a part, the score-affecting settings (config hash), the number of judging samples."""
    cards = list(cards)
    problems = _mixed_rubrics(cards)
    problems += _differing(cards, "judges", judge_label)
    for part in sorted({part for card in cards for part in card.provenance.prompt_versions}):
        problems += _differing(cards, f"{part} prompt versions", _prompt_version(part))
    problems += _differing(cards, "score-affecting settings (config hash)", lambda c: c.provenance.config_hash)
    problems += _differing(cards, "numbers of judging samples", lambda c: str(c.provenance.samples))
    return problems


def _mixed_rubrics(cards: list[Scorecard]) -> list[str]:
    """Tasks scored with more than one rubric, with which systems used each."""
    rubrics: dict[str, dict[str, list[str]]] = {}
    for card in cards:
        if card.quality is not None and card.quality.rubric_hash:
            rubrics.setdefault(card.task_id, {}).setdefault(card.quality.rubric_hash, []).append(card.system)
    problems = []
    for task, hashes in sorted(rubrics.items()):
        if len(hashes) > 1:
            described = "; ".join(f"{h} ({', '.join(sorted(set(s)))})" for h, s in sorted(hashes.items()))
            problems.append(f"task {task} was scored with {len(hashes)} different rubrics: {described}")
    return problems


def _prompt_version(part: str) -> Callable[[Scorecard], str | None]:
    return lambda card: card.provenance.prompt_versions.get(part)


def _differing(cards: list[Scorecard], label: str, key: Callable[[Scorecard], str | None]) -> list[str]:
    """The values of ``key`` when the results do not all share one (a result without a value is not counted)."""
    groups: dict[str, set[str]] = {}
    for card in cards:
        value = key(card)
        if value is not None:
            groups.setdefault(value, set()).add(card.system)
    if len(groups) <= 1:
        return []
    described = "; ".join(
        f"{value or '(none)'} ({', '.join(sorted(systems))})" for value, systems in sorted(groups.items())
    )
    return [f"results were scored with different {label}: {described}"]
