"""Small file helpers shared by every stage: atomic writes, safe file names for ids, and bounded JSON / YAML
parsing of user input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(identifier: str, max_length: int = 100) -> str:
    """A file name for an id; ids that had to be changed get a hash suffix so distinct ids never collide."""
    cleaned = _UNSAFE.sub("_", identifier).strip("._") or "item"
    if cleaned == identifier and len(cleaned) <= max_length:
        return cleaned
    digest = hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned[: max_length - 11]}-{digest}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MAX_NESTING = 200  # deeper input is refused: later steps walk it recursively, and no real report nests this deep


class ParseFailure(ValueError):
    """Why a text cannot be read as JSON or YAML, in one line; callers raise it again as their own error.
    ``syntax`` is true for a plain syntax error (the text may be another shape, e.g. JSONL), false for hostile or
    oversized content, which no other reading of the file will fix."""

    def __init__(self, reason: str, syntax: bool = False):
        super().__init__(reason)
        self.syntax = syntax


def load_json(text: str) -> Any:
    """``json.loads`` that fails only with ``ParseFailure``: hostile input (deep nesting, a 100,000-digit number,
    a text too large for memory) is one file's problem, never a traceback that ends a batch."""
    value, _ = load_json_at(text, 0, whole=True)
    return value


_DECODER = json.JSONDecoder()


def load_json_at(text: str, start: int, *, whole: bool = False) -> tuple[Any, int]:
    """The JSON value that starts at ``start`` of ``text`` and where it ends: a value written inside other text (a
    tool call in a model's reply), read within the bounds of ``load_json`` (``whole``: the text is that value)."""
    try:
        value, end = (json.loads(text), len(text)) if whole else _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        raise ParseFailure(f"malformed JSON ({exc.msg}, {where})", True) from None
    except (RecursionError, ValueError, MemoryError) as exc:
        raise ParseFailure(f"unreadable JSON ({_why(exc)})") from None
    _check_nesting(value, "JSON")
    return value, end


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that fails only with ``ParseFailure`` (with the line of a syntax error)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParseFailure(f"malformed YAML ({problem}{line})", True) from None
    except (RecursionError, ValueError, MemoryError) as exc:
        raise ParseFailure(f"unreadable YAML ({_why(exc)})") from None
    _check_nesting(value, "YAML")
    return value


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large to hold in memory"
    if "digits" in str(exc):
        return "a number with too many digits"
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _check_nesting(value: Any, kind: str) -> None:
    """Refuse input nested deeper than ``MAX_NESTING``, walked without recursion (shared YAML aliases once)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        if depth > MAX_NESTING:
            raise ParseFailure(f"unreadable {kind} (nested more than {MAX_NESTING} levels deep)")
        seen.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
