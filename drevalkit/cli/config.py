"""``dreval config``: the effective settings by section, secrets masked, which config file they came from (and
whether it is trusted), and where the store lives."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import SECTIONS, find_config, redact_url, score_fields, section_of
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
    source = find_config(config_file)
    read = source.describe().removeprefix("config: ") if source else "none (defaults, DREVAL_* and options only)"
    stdout.print(plain(f"config file = {read}"), highlight=False, markup=False)
    stdout.print(plain(f"store = {str(settings.store_path)!r}"), highlight=False, markup=False)
