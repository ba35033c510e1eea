"""MkDocs hook: the reference pages that are generated from the code at build time, never written twice.

- ``<!-- generated: settings -->`` becomes the configuration reference: one table per section of ``Settings``, each
  field with its ``dreval.toml`` key, environment variable, type, default, whether it can change a score, and its
  description, all read from the field declarations (``drevalkit/config/settings.py``, ``loading.py``).
- ``<!-- generated: schema NAME -->`` becomes a table per model of a pydantic model's JSON schema (``Scorecard``,
  the import sidecar), with a link to the schema itself, written into the site as ``reference/NAME.schema.json``.
- On the CLI page, an option that click leaves without a default shows an empty default, not click's sentinel.
- Until the screenshots script has made ``docs/images/``, the pictures the pages show are served as placeholders,
  so the site builds with ``--strict`` in the meantime; once the folder exists, a missing picture fails the build.

Nothing generated is committed; the hook imports drevalkit from the repository it is in.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import types
import typing
import zlib
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PICTURES = ("images/scorecard.png", "images/leaderboard.png", "images/pipeline.svg")
MARKER = re.compile(r"<!-- generated: (settings|schema (\w+)) -->")


def _schemas() -> dict[str, tuple[str, type]]:
    from drevalkit.ingest.sidecar import ImportSidecar
    from drevalkit.schemas import Scorecard

    return {"Scorecard": ("scorecard", Scorecard), "ImportSidecar": ("sidecar", ImportSidecar)}


# ---------------------------------------------------------------------------------------------------- settings


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is dict:
        return f"table of {_type_name(args[1])}"
    if annotation is type(None):
        return "none"
    name = getattr(annotation, "__name__", str(annotation))
    return {"SecretStr": "secret str", "Path": "path"}.get(name, name)


def _default(name: str, field: Any) -> str:
    if name == "home":
        return "the user cache folder (`~/.cache/dreval` on Linux)"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, dict):
        return "empty" if not value else f"`{json.dumps(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def settings_reference() -> str:
    from drevalkit.config import loading
    from drevalkit.config.settings import SECTIONS, Settings

    plain_env: dict[str, str] = getattr(loading, "_PLAIN_ENV", {})
    lines: list[str] = []
    for section in SECTIONS:
        lines += [
            f"### `[{section}]` {{#section-{section}}}",
            "",
            "| setting (`dreval.toml` key) and environment variable | type | default | changes scores | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, field in Settings.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if extra.get("section") != section:
                continue
            if name == "prices":
                env = 'none: `dreval.toml` only (`[prices."MODEL"]`)'
            else:
                env = f"`{loading.ENV_PREFIX}{name.upper()}`"
                if name in plain_env:
                    env += f" or `{plain_env[name]}`"
            score = "no"
            if extra.get("score"):
                when = extra.get("when")
                score = f'yes, while `{when[0]} = "{when[1]}"`' if when else "yes"
            lines.append(
                f"| `{name}`<br>{env} | {_type_name(field.annotation)} | {_cell(_default(name, field))} | {score} "
                f"| {_cell(field.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- schemas


def _schema_type(schema: dict[str, Any], prefix: str) -> str:
    if "$ref" in schema:
        target = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{target}](#{prefix}-{target.lower()})"
    if "anyOf" in schema:
        return " \\| ".join(_schema_type(s, prefix) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_schema_type(schema.get('items', {}), prefix)}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_schema_type(schema['additionalProperties'], prefix)}"
    if kind == "null":
        return "null"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _model_table(title: str, schema: dict[str, Any], prefix: str) -> list[str]:
    lines = [f"### {title} {{#{prefix}-{title.lower()}}}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else "optional"
        if "default" in prop:
            default = f"`{json.dumps(prop['default'])}`"
        lines.append(
            f"| `{name}` | {_schema_type(prop, prefix)} | {_cell(default)} | {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def schema_reference(name: str) -> str:
    slug, model = _schemas()[name]
    schema = model.model_json_schema()
    lines = [
        f"The JSON schema itself: [{slug}.schema.json]({slug}.schema.json) "
        f"(`{model.__module__}.{model.__name__}.model_json_schema()`).",
        "",
    ]
    lines += _model_table(name, schema, slug)
    for title, sub in schema.get("$defs", {}).items():
        lines += _model_table(title, sub, slug)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- pictures


def _placeholder_png() -> bytes:
    """A 1x1 grey PNG: what a picture shows until the screenshots script has made it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xcc")) + chunk(b"IEND", b"")
    )


_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="60"><text x="10" y="35" font-family="sans-serif">'
    "picture not made yet: run make screenshots</text></svg>"
)


# ---------------------------------------------------------------------------------------------------- hooks


def on_files(files: Any, config: Any) -> Any:
    for slug, model in _schemas().values():
        schema = json.dumps(model.model_json_schema(), indent=2) + "\n"
        files.append(File.generated(config, f"reference/{slug}.schema.json", content=schema))
    if not (Path(config["docs_dir"]) / "images").is_dir():
        for picture in PICTURES:
            content: bytes | str = _PLACEHOLDER_SVG if picture.endswith(".svg") else _placeholder_png()
            files.append(File.generated(config, picture, content=content))
    return files


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    # click >= 8.3 leaves an option without a default as a sentinel, which mkdocs-click prints as it is: such an
    # option is simply not given (the setting behind it, if any, then applies)
    return html.replace("<td><code>Sentinel.UNSET</code></td>", "<td></td>")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        return settings_reference() if match.group(1) == "settings" else schema_reference(match.group(2))

    return MARKER.sub(replace, markdown)
