"""Reading a YAML config file safely: parse first, then substitute `${NAME:default}`.

The environment never changes the document's structure or types: a value is substituted
inside string scalars only, after parsing, and is never re-parsed (a `${PASSWORD}` of `null`
stays the text "null"; a newline cannot add a key). Substituted values are `FromEnv`
strings, so validation can type them by their field and name the variable in an error.
Secret-looking keys are wrapped in `SecretStr` as they are read. Size, nesting and the
number of values are bounded with every alias expanded, so no "billion laughs" or alias
chain gets through. Every mistake is one line:
`ConfigError("file: key.path: reason")`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, missing_extra

try:
    import yaml
    from pydantic import SecretStr
except ImportError as exc:  # pragma: no cover - exercised by installing without the extra
    raise ImportError(missing_extra("producer_pool.wiring.config_file", "di", exc)) from exc

from ..clients.redact import is_secret

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "FromEnv", "load_config"]

MAX_BYTES = 1_000_000
"""The largest config file read: a config file is small, and a 10 MB value is a mistake, not a
setting."""
MAX_DEPTH = 16
"""The deepest nesting accepted: `pool.kafka.publisher` are 2 deep; this is far beyond any
real use."""
MAX_VALUES = 10_000
"""The most keys and values accepted, aliases expanded: a real config has a few dozen."""

# libyaml when PyYAML was built with it: 40 times faster, so a file is refused within a second
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_OPENERS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_VALUES = (*_OPENERS, yaml.BlockEntryToken, yaml.ScalarToken, yaml.AliasToken)


class FromEnv(str):
    """A string that came (at least in part) from the environment variable `variable`."""

    variable: str

    def __new__(cls, value: str, variable: str) -> FromEnv:
        text = super().__new__(cls, value)
        text.variable = variable
        return text

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        """What `copy` and `pickle` rebuild it from: dependency-injector deep-copies the
        config on every `container.config.<key>.override(...)`."""
        return str(self), self.variable


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The file's mapping, environment substituted, `overrides` merged over it."""
    path = Path(path)
    if not path.is_file():
        reason = "not a regular file" if path.exists() else "no such config file"
        raise ConfigError(f"{path}: {reason}")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes; a config file is at most {MAX_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:  # unreadable: its permissions (a mounted secret), an I/O error
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    data = _parse(path, text)
    if data is None:
        raise ConfigError(f"{path}: empty; expected the keys pool, kafka and publisher")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of pool, kafka and publisher "
            f"(got {type(data).__name__})"
        )
    config: dict[str, Any] = _substitute(path, data, ())
    for key, value in (overrides or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def _parse(path: Path, text: str) -> Any:
    """The document's data, or one line if its shape is beyond any config file's.

    Nesting and values are counted twice: in the scanner's tokens first (iteratively, so
    that a deeply nested file cannot exhaust the composer's recursion, and a long one is
    refused before it is composed), then in the composed graph with every alias expanded,
    since that tree is what construction and substitution walk. The second pass is linear
    in the graph however many times its aliases repeat it.
    """
    try:
        depth = values = 0
        for token in yaml.scan(text, Loader=_Loader):  # iterative, however deep the input
            if isinstance(token, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    line = token.start_mark.line + 1
                    raise ConfigError(f"{path}: line {line}: nested more than {MAX_DEPTH} deep")
            elif isinstance(token, _CLOSERS):
                depth -= 1
            values += isinstance(token, _VALUES)
            if values > MAX_VALUES:
                line = token.start_mark.line + 1
                raise ConfigError(f"{path}: line {line}: more than {MAX_VALUES:,} values")
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expanded(path, node)
            _check_unique_keys(path, node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}") from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _Expanded:
    """Each node's size and depth as a tree (aliases expanded), computed once per node."""

    def __init__(self, path: Path, root: yaml.Node) -> None:
        self.size: dict[int, int] = {}
        self.depth: dict[int, int] = {}
        on_path: set[int] = set()
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:  # iterative post-order: an alias chain cannot exhaust the recursion
            node, children_done = stack.pop()
            key = id(node)
            if children_done:
                children = _children(node)
                collection = not isinstance(node, yaml.ScalarNode)
                size = 1 + sum(self.size[id(child)] for child in children)
                self.size[key] = min(size, MAX_VALUES + 1)
                self.depth[key] = collection + max(
                    (self.depth[id(child)] for child in children), default=0
                )
                on_path.discard(key)
            elif key in on_path:
                line = node.start_mark.line + 1
                raise ConfigError(f"{path}: line {line}: an alias refers to its own anchor")
            elif key not in self.size:
                on_path.add(key)
                stack.append((node, True))
                stack.extend((child, False) for child in _children(node))

    def too_deep(self, node: yaml.Node, level: int) -> bool:
        return level + self.depth[id(node)] > MAX_DEPTH

    def too_big(self, node: yaml.Node, level: int) -> bool:
        return self.size[id(node)] > MAX_VALUES


def _check_expanded(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases expand beyond `MAX_DEPTH` levels (a long alias
    chain) or `MAX_VALUES` values (a "billion laughs", also through merge keys), naming the
    key (section.option at most) that holds the expansion."""
    expanded = _Expanded(path, root)
    if expanded.too_deep(root, 0):
        beyond = expanded.too_deep
        reason = f"nested more than {MAX_DEPTH} deep once its aliases are expanded"
    elif expanded.too_big(root, 0):
        beyond = expanded.too_big
        reason = f"its aliases expand to more than {MAX_VALUES:,} values"
    else:
        return
    keys: list[str] = []
    node, level = root, 1
    while len(keys) < 2 and isinstance(node, yaml.MappingNode):
        held = [
            (key.value, value)
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode) and beyond(value, level)
        ]
        if not held:
            break
        keys.append(str(held[0][0]))
        node, level = held[0][1], level + 1
    where = ".".join(keys) or f"line {root.start_mark.line + 1}"
    raise ConfigError(f"{path}: {where}: {reason}")


def _check_unique_keys(path: Path, root: yaml.Node) -> None:
    """Refuse a key given twice in one mapping. YAML says a mapping's keys are unique, yet
    PyYAML keeps the last value without a word: a block copied and edited in one place
    would change a setting unseen. Checked before construction, so a key merged in by `<<:`
    (which the mapping's own key overrides, as YAML means it to) is not a repeat."""
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    seen: set[int] = set()
    while stack:  # each node once, however many aliases name it
        node, keys = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, tuple[str, ...]]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(item, (*keys, str(n))) for n, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            first_lines: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue  # not a config key: validation names it
                line, named = key.start_mark.line + 1, (*keys, str(key.value))
                first = first_lines.get((key.tag, key.value))
                if first is not None:
                    where = f"lines {first} and {line}" if first != line else f"line {line}"
                    raise ConfigError(f"{path}: {'.'.join(named)}: given twice ({where})")
                first_lines[(key.tag, key.value)] = line
                children.append((value, named))
        stack.extend(reversed(children))  # in the file's order: an anchor before its aliases


def _substitute(path: Path, value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(path, item, (*keys, str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(path, item, (*keys, str(n))) for n, item in enumerate(value)]
    if isinstance(value, str):
        value = _interpolate(path, value, keys)
    if keys and is_secret(keys[-1]) and isinstance(value, str):
        return SecretStr(value)
    return value


def _interpolate(path: Path, text: str, keys: tuple[str, ...]) -> str:
    variables: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        variables.append(name)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(
                f"{path}: {'.'.join(keys)}: environment variable {name} is not set "
                "and has no default (write ${" + name + ":default})"
            )
        return default

    result = _REFERENCE.sub(replace, text)
    return FromEnv(result, variables[0]) if variables else result
