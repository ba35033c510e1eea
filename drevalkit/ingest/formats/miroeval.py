"""MiroEval outputs (``data/method_results/<model>_text_100.json``): a JSON array of ``{id, chat_id, query,
rewritten_query, files, annotation, response, process}``. The report is ``response``; the prompt is
``rewritten_query`` (what the systems were asked, as MiroEval's own scorer uses it), else ``query``. An entry
without a response is a failed report; ``process`` (the research trace) is not imported, only its length kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import IMPORTERS, ImportedReport, ReportError, parse_json, small_scalars, task_id_of


@IMPORTERS.register("miroeval")
class MiroEvalImporter:
    name = "miroeval"
    suffixes = ()

    @staticmethod
    def sniff(data: Any) -> bool:
        if not isinstance(data, list) or not data:
            return False
        first = next((i for i in data if isinstance(i, dict)), None)
        return isinstance(first, dict) and "response" in first and ("rewritten_query" in first or "query" in first)

    def read(self, raw: str, path: Path) -> list[ImportedReport]:
        data = parse_json(raw, path)
        if not isinstance(data, list):
            raise ReportError(f"{path}: expected a MiroEval JSON array of {{id, query, rewritten_query, response}}")
        reports = []
        for position, item in enumerate(data):
            where = f"[{position}]"
            if not isinstance(item, dict) or task_id_of(item.get("id")) is None:
                reports.append(
                    ImportedReport.unreadable(self.name, path, where, f"{path}{where}: not an object with an 'id'")
                )
                continue
            task_id = task_id_of(item.get("id"))
            rewritten, query = item.get("rewritten_query"), item.get("query")
            prompt = next((q.strip() for q in (rewritten, query) if isinstance(q, str) and q.strip()), None)
            response = item.get("response")
            report = ImportedReport(
                text=response if isinstance(response, str) else "",
                format=self.name,
                source_path=str(path),
                entry=where,
                task_id=task_id,
                prompt=prompt,
            )
            report.meta = small_scalars(item, skip={"response", "rewritten_query", "id", "process"})
            if isinstance(item.get("process"), str):
                report.meta["process_chars"] = len(item["process"])
            if isinstance(item.get("annotation"), dict):
                report.meta["annotation"] = small_scalars(item["annotation"], skip=set())
            if isinstance(item.get("files"), list) and item["files"]:
                report.meta["files"] = [
                    f.get("filename", "") if isinstance(f, dict) else str(f) for f in item["files"]
                ][:50]
            if not isinstance(response, str) or not response.strip():
                report.failure = "no-response: the file holds no response for this query"
            reports.append(report)
        return reports
