"""Small file helpers shared by every stage: atomic writes and safe file names for ids."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

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
