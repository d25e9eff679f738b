"""The site's code runs as written: every Python block of a guide page, each in a fresh
interpreter against a fresh broker of its own (`KAFKA_BOOTSTRAP_SERVERS`, which
`EmbeddedBroker` honours: so topics start empty and printed offsets are what a reader gets),
with our own deprecation warnings as errors (a page must show today's import paths). A
block titled `test_*.py` is run by pytest, as a user would; other titled blocks
(`orders.py`, `config.yaml`) are written beside them first, so a block can import or read
them. A ```text block right after a block is what it must print."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer_pool.testing.broker import EmbeddedBroker
from tests.docs.site import Block, blocks, pages

pytestmark = pytest.mark.docs

#: Pages of reference and record: their code is quoted, not a recipe to run.
NOT_GUIDES = ("design.md", "benchmarks.md", "changelog.md", "reference/")
GUIDES = [page for page in pages() if not page.startswith(NOT_GUIDES)]
#: Words of a block that talks to Kafka: it gets a broker (0.5 s to start); others do not.
USES_KAFKA = ("EmbeddedBroker", "kafka_bootstrap_servers", "create_container", "KAFKA_BOOTSTRAP")
#: Every warning whose message starts with "producer_pool." (our moved paths) fails a block.
OUR_WARNINGS_ARE_ERRORS = "error:producer_pool."
PYTHON = [
    block
    for page in [*GUIDES, "../README.md"]  # the README's example too
    for block in blocks(page)
    if block.language == "python"
]


def test_the_guides_have_code_to_run():
    assert {"getting-started.md", "testing.md"} <= {block.page for block in PYTHON}


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_a_guide_snippet_runs_as_written(block: Block, tmp_path: Path) -> None:
    if block.not_run:
        pytest.skip(block.not_run)
    if not any(word in block.code for word in USES_KAFKA):
        run(block, "127.0.0.1:9", tmp_path)  # nothing listens there: a block that tried would fail
        return
    with EmbeddedBroker() as broker:
        run(block, broker.bootstrap_servers, tmp_path)


def run(block: Block, bootstrap_servers: str, tmp_path: Path) -> None:
    """Run `block` as a reader would, with the other titled blocks of its page beside it."""
    for other in blocks(block.page):
        if other.title:
            (tmp_path / other.title).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / other.title).write_text(other.code)
    script = tmp_path / (block.title or f"snippet_{block.line}.py")
    script.write_text(block.code)
    if script.name.startswith("test_"):
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-W", OUR_WARNINGS_ARE_ERRORS, script.name]
    else:
        command = [sys.executable, script.name]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "PYTHONWARNINGS": OUR_WARNINGS_ARE_ERRORS,
    }
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=50)
    assert ran.returncode == 0, f"{block} failed:\n{ran.stdout}\n{ran.stderr}"
    if block.output is not None and not script.name.startswith("test_"):
        assert prints(ran.stdout, block.output), (
            f"{block} printed:\n{ran.stdout}\nwhile the page shows:\n{block.output}"
        )


def prints(stdout: str, shown: str) -> bool:
    """Whether `stdout` is what the page shows, where `...` in the page stands for any text
    (as in doctest)."""
    checker = doctest.OutputChecker()
    return checker.check_output(shown.strip() + "\n", stdout.strip() + "\n", doctest.ELLIPSIS)
