"""What the documentation tests read: the public names, the built site's inventory, and the
code blocks of the pages."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from producer_pool._moved import MOVED

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
SOURCE = ROOT / "src"


def public_modules() -> dict[str, Path]:
    """Every public module by its dotted path: no part of its path starts with `_`, and it
    is not one of 0.1's deprecated aliases."""
    modules = {}
    for path in sorted((SOURCE / "producer_pool").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if any(part.startswith("_") for part in parts) or name in MOVED:
            continue
        modules[name] = path
    return modules


def exported(path: Path) -> list[str]:
    """The names in a module's `__all__` (read from the source, never imported)."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))  # type: ignore[union-attr]
    return []


def public_names() -> list[str]:
    """`module.name` for every name in the `__all__` of a public module."""
    return [f"{m}.{n}" for m, path in public_modules().items() for n in exported(path)]


def build(site_dir: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` into `site_dir`: a broken link, anchor, reference or included
    file is an error."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def inventory(site_dir: Path) -> set[str]:
    """The names in the site's `objects.inv`: every object rendered, by each of its paths."""
    data = (site_dir / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four text lines, then the zlib-compressed body
        header_end = data.index(b"\n", header_end) + 1
    body = zlib.decompress(data[header_end:]).decode()
    return {line.split(" ", 1)[0] for line in body.splitlines() if line.strip()}


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page: its language, its `title="..."` (a file name) and
    its first line number, for error messages."""

    page: str
    line: int
    language: str
    title: str | None
    code: str
    not_run: str | None = None  # the reason given by a `<!-- not run: ... -->` just before
    output: str | None = None  # a ```text block right after it: what it prints

    def __str__(self) -> str:
        return f"{self.page}:{self.line}" + (f" ({self.title})" if self.title else "")


_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`\n]*)$")
_TITLE = re.compile(r'title="([^"]+)"')
_NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")


def blocks(page: str) -> list[Block]:
    """The fenced code blocks of `docs/<page>`, in order (indented ones, in admonitions or
    tabs, included; their indentation removed). A ```text block that follows a block with
    nothing but blank lines between them is that block's `output`."""
    found: list[Block] = []
    ends: list[int] = []  # the closing fence's line of each block found
    lines = (DOCS / page).read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or not opening["info"].strip():
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        info = opening["info"].strip()
        start, index = index, index + 1
        body = []
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][indent:])
            index += 1
        title = _TITLE.search(info)
        language = info.split()[0].lstrip("{.").rstrip("}")
        code = "\n".join(body) + "\n"
        before = next((line for line in reversed(lines[:start]) if line.strip()), "")
        reason = _NOT_RUN.match(before.strip())
        block = Block(page, start + 1, language, title and title[1], code, reason and reason[1])
        if language == "text" and found and _only_blank(lines[ends[-1] + 1 : start]):
            found[-1] = replace(found[-1], output=code)
        found.append(block)
        ends.append(index)
        index += 1
    return found


def _only_blank(lines: list[str]) -> bool:
    return not any(line.strip() for line in lines)


def pages() -> list[str]:
    """Every page under docs/, as a path relative to it."""
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))


def section(page: str, heading: str) -> str:
    """The text of `docs/<page>` under `heading` (e.g. "## Stats"), up to the next heading of
    the same or a higher level (a `#` line inside a code block is no heading)."""
    level = len(heading.split(" ", 1)[0])
    lines = (DOCS / page).read_text().splitlines()
    start = lines.index(heading) + 1
    in_code = False
    for end in range(start, len(lines)):
        in_code ^= lines[end].lstrip().startswith("```")
        if not in_code and re.match(rf"^#{{1,{level}}} ", lines[end]):
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in `text`: rows of cells, header and separator rows left out."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            found.append(rows[2:])
            rows = []
    return found


def code_names(cell: str) -> list[str]:
    """The `backticked` names in a table cell."""
    return re.findall(r"`([^`]+)`", cell)
