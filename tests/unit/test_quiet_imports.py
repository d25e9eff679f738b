"""No DeprecationWarning reaches a user's test run from importing our modules.

kafka-python raises 218 of them while it is imported (Python 3.11 and 3.12); under a user's
`filterwarnings = error` they failed collection. Our own pyproject has no filter for them: the
suite itself proves they are silenced where we import kafka-python, and only there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import producer_pool
from producer_pool._moved import MOVED
from tests.fakes import run_users_pytest

PACKAGE = Path(producer_pool.__file__).parent


def _imports_kafka(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        if any(name.split(".")[0] == "kafka" for name in names):
            return True
    return False


KAFKA_IMPORTERS = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
    for p in PACKAGE.rglob("*.py")
    if p.name != "_quiet_kafka.py" and _imports_kafka(p)
)


def test_the_modules_importing_kafka_python_are_found():
    assert "producer_pool.clients.kafka_python" in KAFKA_IMPORTERS
    # The kafka-python settings model imports it in a validator (a codec's library check).
    assert "producer_pool.clients.settings.kafka_python" in KAFKA_IMPORTERS


@pytest.mark.parametrize("module", KAFKA_IMPORTERS)
def test_a_module_first_to_import_kafka_python_raises_no_warning(module):
    # The validator's import runs when settings are built, so build one too.
    code = f"import {module}; " + (
        "from producer_pool.wiring.settings import KafkaSettings; "
        "KafkaSettings(bootstrap_servers='127.0.0.1:9', compression_type='gzip'); "
        "import sys; assert 'kafka' in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


USER_TESTS = """
import importlib
import importlib.resources
import pkgutil
import sys
import warnings

import pytest

import producer_pool

OURS = [
    m.name
    for m in pkgutil.walk_packages(producer_pool.__path__, "producer_pool.")
    if m.name not in DEPRECATED and not m.name.endswith("__main__")
]
for name in OURS:
    importlib.import_module(name)


def test_our_modules_and_kafka_python_are_imported():
    assert "kafka" in sys.modules
    assert "producer_pool.testing.topics" in sys.modules


def test_settings_import_kafka_python_quietly_too():
    from producer_pool.wiring.settings import KafkaSettings

    KafkaSettings(bootstrap_servers="127.0.0.1:9", linger_ms=5)


@pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 12)), reason="deprecated there")
def test_the_users_own_legacy_read_text_still_warns():
    with pytest.warns(DeprecationWarning, match="(read|open)_text is deprecated"):
        importlib.resources.read_text("json", "__init__.py")


def test_the_users_own_deprecation_fails_their_test():
    warnings.warn("the user's own deprecation", DeprecationWarning)
"""


def test_a_users_pytest_session_with_filterwarnings_error(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    deprecated = sorted(MOVED)
    (tmp_path / "test_user.py").write_text(
        f"DEPRECATED = {deprecated!r}\n" + textwrap.dedent(USER_TESTS)
    )
    result = run_users_pytest(tmp_path, "-q", "-rf")
    lines = result.stdout.splitlines()
    failed = [line.split(" - ")[0] for line in lines if line.startswith("FAILED")]
    assert failed == ["FAILED test_user.py::test_the_users_own_deprecation_fails_their_test"], (
        result.stdout
    )
    legacy_deprecated = sys.version_info[:2] in ((3, 11), (3, 12))
    counts = "1 failed, 3 passed" if legacy_deprecated else "1 failed, 2 passed, 1 skipped"
    assert counts in lines[-1], result.stdout
