"""Markdown or plain text: one report per file, named ``<task id>.md``. A sidecar written by ``dreval import`` or
``dreval run-agent`` (``<task id>.meta.json``) supplies the task id, the prompt and, for a give-up message, the
failure; an agent run's sidecar also its flags (cut short, citations to pages never read), in ``meta["flags"]``."""

from __future__ import annotations

from pathlib import Path

from ..sidecar import read_sidecar, sha256_text
from .base import IMPORTERS, ImportedReport, Source


@IMPORTERS.register("markdown")
class MarkdownImporter:
    name = "markdown"
    suffixes = (".md", ".markdown", ".txt", ".text")

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        report = ImportedReport(text=raw, format=self.name, source_path=str(path), task_id=path.stem)
        sidecar = read_sidecar(path)
        if sidecar is None:
            return [report]
        report.task_id = sidecar.task_id
        report.prompt = sidecar.prompt
        report.sources_unused = [Source(url=s.url, title=s.title, index=s.index) for s in sidecar.sources_unused]
        report.meta = {
            "imported_from": sidecar.source_file,
            "imported_format": sidecar.format,
            "imported_entry": sidecar.source_entry,
        }
        unchanged = not sidecar.text_sha256 or sidecar.text_sha256 == sha256_text(raw)
        if sidecar.agent is not None and unchanged:  # written by dreval run-agent: how the report was produced
            report.meta["agent"] = sidecar.agent.model_dump(exclude={"settings"})
            report.meta["flags"] = sidecar.agent.flags()
        if sidecar.status == "failed":
            if unchanged:
                report.failure = sidecar.failure or "marked failed by its import sidecar"
            else:
                report.notes.append(
                    "edited since import: the sidecar's failure is not applied, the text is checked again"
                )
        return [report]
