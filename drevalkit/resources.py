"""Locate data shipped with the package (personas, rubrics, templates).

In a wheel the top-level data folders are installed under ``drevalkit/_data``; in a source checkout
(editable install or running from the repository) they sit beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DATA_FOLDERS = ("personas", "rubrics", "templates")


def data_path(folder: str) -> Path:
    """Path of a shipped data folder, whether installed from a wheel or run from a checkout."""
    if folder not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {folder!r}; expected one of {DATA_FOLDERS}")
    installed = Path(str(resources.files("drevalkit"))) / "_data" / folder
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parent.parent / folder
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"drevalkit data folder {folder!r} is missing from this installation")
