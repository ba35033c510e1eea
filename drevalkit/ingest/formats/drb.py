"""DeepResearch Bench outputs: ``data/test_data/raw_data/<model>.jsonl``, one ``{"id", "prompt", "article"}``
object per line (``language`` too in the published files). Every line is a report; a broken line is listed with
its number and the other lines still import. A JSON array of the same objects is accepted as well."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError, parse_json_or_jsonl, small_scalars, task_id_of


def _items(data: Any) -> list[Any] | None:
    if isinstance(data, dict):
        return [data]
    return data if isinstance(data, list) else None


@IMPORTERS.register("drb")
class DeepResearchBenchImporter:
    name = "drb"
    suffixes = (".jsonl",)

    @staticmethod
    def sniff(data: Any) -> bool:
        items = _items(data)
        first = next((i for i in items or [] if isinstance(i, dict) and "__problem__" not in i), None)
        return isinstance(first, dict) and "article" in first

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        items = _items(parse_json_or_jsonl(raw, path))
        if items is None:
            raise ReportError(f"{path}: expected DeepResearch Bench JSONL lines {{id, prompt, article}}")
        reports = []
        for position, item in enumerate(items):
            line = item.get("__line__", position + 1) if isinstance(item, dict) else position + 1
            where = f"line {line}"
            if isinstance(item, dict) and "__problem__" in item:
                reports.append(ImportedReport.unreadable(self.name, path, where, item["__problem__"]))
                continue
            if not isinstance(item, dict):
                reports.append(ImportedReport.unreadable(self.name, path, where, f"{path}:{line}: not a JSON object"))
                continue
            task_id = task_id_of(item.get("id"))
            article = item.get("article")
            if task_id is None or not isinstance(article, str):
                missing = "'id'" if task_id is None else "'article' text"
                reports.append(
                    ImportedReport.unreadable(
                        self.name, path, where, f"{path}:{line}: the line has no {missing}", task_id=task_id
                    )
                )
                continue
            prompt = item.get("prompt") if isinstance(item.get("prompt"), str) else None
            reports.append(
                ImportedReport(
                    text=article,
                    format=self.name,
                    source_path=str(path),
                    entry=where,
                    task_id=task_id,
                    prompt=prompt.strip() if prompt and prompt.strip() else None,
                    meta=small_scalars(item, skip={"article", "prompt", "id"}),
                )
            )
        return reports
