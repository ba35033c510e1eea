"""The docs cannot rot: a README of one screen, relative links that resolve, a site navigation that lists every page,
a CLI reference generated for the whole ``dreval`` group, commands in the docs that the CLI knows, and a strict
build of the site (when mkdocs is installed)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from drevalkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
IMAGES = DOCS / "images"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
BASH_BLOCK = re.compile(r"^```(?:bash|sh|console)\n(.*?)^```", re.M | re.S)


def doc_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def relative_links(path: Path) -> Iterator[str]:
    """The relative targets of a markdown file's links and images, outside code."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    for target in LINK.findall(text):
        if SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        yield target.split("#", 1)[0]


def nav_files(entry: object) -> Iterator[str]:
    if isinstance(entry, str):
        yield entry
    elif isinstance(entry, dict):
        for value in entry.values():
            yield from nav_files(value)
    elif isinstance(entry, list):
        for item in entry:
            yield from nav_files(item)


def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_readme_fits_one_screen():
    size = len(README.read_bytes())
    assert size <= 8 * 1024, f"README.md is {size} bytes: move the detail into a page under docs/"


def test_every_relative_link_resolves():
    broken = []
    for path in [README, *doc_pages()]:
        for target in relative_links(path):
            resolved = (path.parent / target).resolve()
            if resolved.is_relative_to(IMAGES) and not IMAGES.is_dir():
                continue  # the pictures come from `make screenshots`; checked once it has made them
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_the_navigation_lists_every_page_and_only_pages_that_exist():
    listed = set(nav_files(mkdocs_config()["nav"]))
    pages = {path.relative_to(DOCS).as_posix() for path in doc_pages()}
    assert listed - pages == set(), "mkdocs.yml lists pages that do not exist"
    assert pages - listed == set(), "pages under docs/ missing from mkdocs.yml's nav"


def test_the_cli_reference_is_generated_for_the_whole_group():
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    block = re.search(r"^::: mkdocs-click\n((?:[ \t]+:.*\n?)+)", page, re.M)
    assert block, "docs/reference/cli.md has no mkdocs-click block"
    options = dict(re.findall(r":(\w+):\s*(.*)", block.group(1)))
    assert options.get("module") == "drevalkit.cli"
    assert options.get("command") == "main"
    assert "commands" not in options, "the CLI reference must cover every command, not a chosen few"


def documented_commands() -> Iterator[tuple[Path, str]]:
    """Every ``dreval ...`` line of a shell block in the README and the docs, continuation lines joined."""
    for path in [README, *doc_pages()]:
        for block in BASH_BLOCK.findall(path.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("dreval "):
                    yield path, line


def test_every_documented_command_and_option_exists():
    problems = []
    seen = 0
    for path, line in documented_commands():
        seen += 1
        words = shlex.split(line, comments=True)
        command: click.Command = main
        index = 1
        while isinstance(command, click.Group) and index < len(words) and not words[index].startswith("-"):
            sub = command.commands.get(words[index])
            if sub is None:
                problems.append(f"{path.name}: unknown command {words[index]!r} in {line!r}")
                break
            command, index = sub, index + 1
        else:
            known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
            known |= {"--help", "-h"}
            for word in words[index:]:
                flag = word.split("=", 1)[0]
                if flag.startswith("--") and flag not in known:
                    problems.append(f"{path.name}: {' '.join(words[:index])} has no option {flag}")
    assert seen >= 40, f"only {seen} documented dreval commands found: is the extraction broken?"
    assert not problems, "\n".join(problems)


def test_the_site_builds_strictly_and_documents_every_command(tmp_path):
    for module in ("mkdocs", "material", "mkdocs_click", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module)
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    missing = [" ".join(path) for path in command_paths() if f'id="dreval-{"-".join(path)}"' not in cli]
    assert not missing, f"commands without a section in the CLI reference: {missing}"
    assert "Sentinel" not in cli
    settings = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    from drevalkit.config import Settings

    undocumented = [name for name in Settings.model_fields if f"<code>{name}</code>" not in settings]
    assert not undocumented, f"settings missing from the configuration reference: {undocumented}"
    assert (site / "reference" / "scorecard.schema.json").is_file()
