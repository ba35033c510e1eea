"""``dreval config``: the effective settings by section, secrets masked, and where the store lives."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import SECTIONS, redact_url, score_fields, section_of
from .console import plain, stdout
from .options import build_settings, config_option


@click.command("config")
@config_option
def config_command(config_file: Path | None) -> None:
    """Show the effective settings by section (secrets masked; * marks settings that can change this run's scores)."""
    settings = build_settings(config_file)
    shown = settings.model_dump(mode="json")
    affecting = set(score_fields())
    for section in SECTIONS:
        stdout.print(f"[{section}]", highlight=False, markup=False)
        for name, value in shown.items():
            if section_of(name) != section:
                continue
            if name.endswith("api_key"):
                value = "set (hidden)" if value else None
            elif name.endswith("_url") and value:
                value = redact_url(value)
            mark = " *" if name in affecting and settings.in_use(name) else ""
            stdout.print(plain(f"{name} = {value!r}{mark}"), highlight=False, markup=False)
        stdout.print("")
    stdout.print(plain(f"store = {str(settings.store_path)!r}"), highlight=False, markup=False)
