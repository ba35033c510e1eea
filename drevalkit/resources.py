"""Data shipped inside the package (``drevalkit/data``: personas, rubrics, templates), read with
``importlib.resources`` so it is found the same way from a wheel, an editable install or a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DATA_FOLDERS = ("personas", "rubrics", "templates")


def data_path(folder: str) -> Path:
    """Path of a shipped data folder."""
    if folder not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {folder!r}; expected one of {DATA_FOLDERS}")
    path = Path(str(resources.files("drevalkit").joinpath("data").joinpath(folder)))
    if not path.is_dir():
        raise FileNotFoundError(f"drevalkit data folder {folder!r} is missing from this installation")
    return path
