"""The release: `python -m build` makes an sdist and, from it, a wheel that installs in a
fresh venv and works there with no extra; the version and the CHANGELOG agree."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
#: pyproject.toml's version (read as text: tomllib is 3.11+).
VERSION = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)[1]  # type: ignore[index]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, then the wheel built from the unpacked sdist (what `python -m build`
    does): a file missing from the sdist breaks the wheel. No isolation: the build backend
    comes from the dev venv, so the test needs no network."""
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def only(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_the_sdist_holds_the_sources_and_nothing_local(dist: Path):
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "config/producer_pool.yaml",
        "config/confluent.yaml",
        "config/confluent-aio.yaml",
        "config/aiokafka.yaml",
        "src/producer_pool/py.typed",
        "mkdocs.yml",
    ):
        assert needed in names
    local = [n for n in names if n.startswith((".venv", "site/", "dist/")) or "__pycache__" in n]
    assert not local


def test_the_wheel_installs_in_a_fresh_venv_and_runs_without_extras(dist: Path, tmp_path: Path):
    wheel = only(dist, f"producer_pool-{VERSION}-py3-none-any.whl")
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-index",
        str(wheel),
    ]  # the core needs nothing from an index
    subprocess.run(install, check=True, capture_output=True)
    code = (
        "import importlib.resources as r, producer_pool as p\n"
        "from producer_pool import ProducerPool\n"
        "files = r.files('producer_pool')\n"
        "for name in ('producer_pool', 'confluent', 'confluent-aio', 'aiokafka'):\n"
        "    assert files.joinpath('config', name + '.yaml').is_file(), name\n"
        "assert files.joinpath('py.typed').is_file()\n"
        "with ProducerPool(iter(range(9)).__next__, max_size=2) as pool:\n"
        "    with pool.acquire() as n:\n"
        "        assert n == 0\n"
        "print(p.__version__)\n"
    )
    ran = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == VERSION
    # The command is installed; without its extra it says, in one line, what to install.
    command = subprocess.run(
        [tmp_path / "venv" / "bin" / "producer-pool", "-h"], capture_output=True, text=True
    )
    assert command.returncode != 0
    assert command.stderr.strip().count("\n") == 0
    assert "pip install 'producer-pool[cli]'" in command.stderr


def test_the_metadata_names_the_version_the_license_and_no_project_urls(dist: Path):
    wheel = only(dist, "*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"producer_pool-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    assert "Project-URL" not in metadata and "Home-page" not in metadata  # no public home yet
    assert "\nProvides-Extra: kafka\n" in metadata


def test_the_changelog_has_a_dated_section_for_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    heading = re.search(rf"^## {re.escape(VERSION)} - (\d{{4}}-\d{{2}}-\d{{2}})$", changelog, re.M)
    assert heading, f"CHANGELOG.md needs a '## {VERSION} - YYYY-MM-DD' section"
    assert changelog.index(heading[0]) < changelog.find("\n## 0.1.0")
