"""Report formats, one module each, registered in ``IMPORTERS`` by name: ``markdown``, ``deepresearcheval``,
``drb``, ``miroeval``, ``openai-responses``, ``html``. ``references`` normalises markers and References lists."""

from . import deepresearcheval, drb, html, markdown, miroeval, openai_responses  # noqa: F401 - register formats
from .base import IMPORTERS, ImportedReport, ReportError, ReportImporter, Source

__all__ = ["IMPORTERS", "ImportedReport", "ReportError", "ReportImporter", "Source"]
