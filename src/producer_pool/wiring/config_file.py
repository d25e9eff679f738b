"""Reading a YAML config file safely: parse first, then substitute `${NAME:default}`.

The environment never changes the document's structure or types: a value is substituted
inside string scalars only, after parsing, and is never re-parsed (a `${PASSWORD}` of `null`
stays the text "null"; a newline cannot add a key). Substituted values are `FromEnv`
strings, so validation can type them by their field and name the variable in an error.
Secret-looking keys are wrapped in `SecretStr` as they are read. Every mistake is one line:
`ConfigError("file: key.path: reason")`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import yaml
    from pydantic import SecretStr
except ImportError as exc:  # pragma: no cover - exercised by installing without the extra
    raise ImportError(
        f"producer_pool.config_file needs the 'di' extra ({exc.name} is missing): "
        "pip install 'producer-pool[di]'"
    ) from exc

from ..clients.redact import is_secret
from ..errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "FromEnv", "load_config"]

MAX_BYTES = 1_000_000  # a config file is small: a 10 MB value is a mistake, not a setting
MAX_DEPTH = 16  # pool.kafka.publisher are 2 deep; this is far beyond any real use

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_OPENERS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


class FromEnv(str):
    """A string that came (at least in part) from the environment variable `variable`."""

    variable: str

    def __new__(cls, value: str, variable: str) -> FromEnv:
        text = super().__new__(cls, value)
        text.variable = variable
        return text


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The file's mapping, environment substituted, `overrides` merged over it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes; a config file is at most {MAX_BYTES:,}")
    raw = path.read_bytes()
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
    try:
        depth = 0
        for token in yaml.scan(text):  # iterative: no recursion, however deep the input
            if isinstance(token, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    line = token.start_mark.line + 1
                    raise ConfigError(f"{path}: line {line}: nested more than {MAX_DEPTH} deep")
            elif isinstance(token, _CLOSERS):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}") from None


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
