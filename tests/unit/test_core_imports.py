"""The package's layers: the core is standard library only, each folder imports only the
folders below it, no two modules import each other, and 0.1's paths still work."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import producer_pool
from producer_pool._moved import MOVED, MOVED_NAMES

PACKAGE = Path(producer_pool.__file__).parent
#: Lowest first: a module may import from its own layer and those before it.
LAYERS = ["errors", "core", "clients", "metrics", "wiring", "integrations", "testing", "command"]


def test_importing_the_core_loads_no_third_party_package():
    code = (
        "import sys, producer_pool; "
        "third = {m.split('.')[0] for m in sys.modules} & "
        "{'kafka', 'confluent_kafka', 'dependency_injector', 'pydantic', 'yaml', 'click', 'rich'}; "
        "print(sorted(third))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The producer_pool modules `path` imports (relative imports resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module.startswith("producer_pool"):
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("producer_pool"))
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


SOURCES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if _layer(_module_name(p)) is not None}


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    layer = _layer(module)
    assert layer is not None
    upward = [m for m in _imports(SOURCES[module]) if (_layer(m) or 0) > layer]
    assert upward == [], f"{module} imports from a higher layer"


def test_no_two_modules_import_each_other():
    graph = {module: _imports(path) for module, path in SOURCES.items()}
    mutual = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and a in graph.get(b, ())
    )
    assert mutual == []


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_imports_the_new_module_with_a_deprecation_warning(old, new):
    sys.modules.pop(old, None)  # never the new module: a second copy would split classes
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        alias = importlib.import_module(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert alias is importlib.import_module(new)


@pytest.mark.parametrize(("old", "name", "new"), [(*k, v) for k, v in sorted(MOVED_NAMES.items())])
def test_a_moved_name_still_imports_from_its_old_module_with_a_deprecation_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}"):
        moved = getattr(module, name)
    assert moved is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018 - the forwarder still refuses unknown names
