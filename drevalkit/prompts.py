"""Prompt templates: jinja2 files shipped next to each stage. A stage's prompt version is a hash of all its
templates (they include each other), so every result records exactly which wording produced it."""

from __future__ import annotations

import hashlib
import re
from functools import cached_property

import jinja2


def fence_untrusted(text: str, tag: str) -> str:
    """Neutralise closing tags inside untrusted text (any case or spacing) so it cannot end its own block."""
    return re.sub(rf"<\s*/\s*({re.escape(tag)})", r"<\\/\1", text, flags=re.IGNORECASE)


class PromptSet:
    """The templates in ``<package>/prompts/``."""

    def __init__(self, package: str):
        self.package = package
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader(package, "prompts"),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        self._env.filters["fence"] = fence_untrusted

    def render(self, name: str, **values: object) -> str:
        return self._env.get_template(name).render(**values).strip()

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self._env.list_templates()):
            source, _, _ = self._env.loader.get_source(self._env, name)
            digest.update(name.encode() + b"\0" + source.encode("utf-8") + b"\0")
        return f"{self.package.rsplit('.', 1)[-1]}@{digest.hexdigest()[:12]}"
