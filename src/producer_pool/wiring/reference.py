"""The configuration reference, rendered from the settings models themselves: the `pool:`
and `publisher:` keys, then the `kafka:` keys of every client, each option with its other
spellings, its type, the code's default (the pool's, the client's own, or the kit's) and,
apart, the value each shipped file sets. `docs/configuration-reference.md` is
this output, and a test keeps it so: `python -m producer_pool.wiring.reference` rewrites it.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
import re
import sys
import typing
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

import annotated_types
import yaml
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from ..clients.kit import KITS, settings_model
from ..clients.settings import ClientSettings
from ..clients.settings._base import ExistingFile
from ..clients.settings.librdkafka import Flags
from ..core import options as pool_options
from ..core.options import PLAIN_OPTIONS, PoolOptions
from .containers import SHIPPED_CONFIGS, shipped_config

__all__ = ["REFERENCE_PATH", "render_client", "render_pool", "render_reference"]

REFERENCE_PATH = Path(__file__).parents[3] / "docs" / "configuration-reference.md"
"""Where the rendered reference lives in a source checkout."""

_HEADER = """\
# Configuration reference

<!-- Rendered from the settings models by `python -m producer_pool.wiring.reference`;
tests/unit/test_reference.py fails when it differs. Do not edit by hand. -->

Every key of a configuration file, as the settings models validate it: the `pool:` and
`publisher:` sections, the same for every client, then the `kafka:` section of each
client, by the client's own option names (with the other spellings it accepts). Each key
has its type, the code's default (the pool's, the client's own, or the kit's for the kit's
options) and, apart, the value each shipped file sets: a key a file leaves out takes the
code's default, not the shipped file's. A key that is not listed is refused when the
container is created, in one line naming the file and the key (with "did you mean").
"""

_TITLES = {
    "kafka-python": "kafka-python (`client: kafka-python`, the default)",
    "confluent": "confluent-kafka (`client: confluent` and `client: confluent-aio`)",
    "aiokafka": "aiokafka (`client: aiokafka`)",
}


def render_reference() -> str:
    """The whole reference: one section per settings model, in `KITS` order."""
    sections = [_HEADER, f"## pool (every client)\n\n{render_pool()}"]
    sections.append(f"## publisher (every client)\n\n{_render_publisher()}")
    seen: set[type[ClientSettings]] = set()
    for client in KITS:
        model = settings_model(client)
        if model in seen or client not in SHIPPED_CONFIGS:
            continue
        seen.add(model)
        clients = [c for c in KITS if c in SHIPPED_CONFIGS and settings_model(c) is model]
        sections.append(f"## {_TITLES.get(client, client)}\n\n{render_client(client, clients)}")
    return "\n".join(sections)


def render_client(client: str, shipped: list[str] | None = None) -> str:
    """The Markdown table of `client`'s `kafka:` keys; a column per shipped file of
    `shipped` (default: the client's own)."""
    model: type[ClientSettings] = settings_model(client)
    shipped = shipped or [client]
    files = {name: _kafka_section(name, model) for name in shipped}
    heads = ["key", "also", "type", "default", *(f"`{SHIPPED_CONFIGS[n]}`" for n in shipped)]
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name in _ordered(model):
        field = model.model_fields[name]
        others = ", ".join(f"`{s}`" for s in model.other_spellings(name))
        cells = [
            f"`{model.option_name(name)}`",
            others,
            _type(field),
            "required" if field.is_required() else _value(field.default),
            *(_value(files[n][name]) if name in files[n] else "" for n in shipped),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def render_pool() -> str:
    """The Markdown table of the `pool:` keys: the pool's options a file can set, with the
    pool's rule, its default (`name`'s is the containers' `events`), each shipped file's
    value and what the option does (the docstring of its `PoolKwargs` key)."""
    files = {name: _section(name, "pool") for name in SHIPPED_CONFIGS}
    heads = ["key", "type", "default", *(f"`{file}`" for file in SHIPPED_CONFIGS.values())]
    rows = ["| " + " | ".join([*heads, "meaning"]) + " |", "|" + "---|" * (len(heads) + 1)]
    fields = {option.name: option for option in dataclasses.fields(PoolOptions)}
    meanings = _pool_meanings()
    for name in PLAIN_OPTIONS:
        requirement = fields[name].metadata["requirement"].removeprefix("must be ")
        requirement = re.sub(r"^an? ", "", requirement)
        default = "events" if name == "name" else fields[name].default
        cells = [
            f"`{name}`",
            requirement.replace("'", "`"),
            _value(default),
            *(_value(files[n][name]) if name in files[n] else "" for n in SHIPPED_CONFIGS),
            meanings.get(name, ""),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _render_publisher() -> str:
    """The `publisher:` keys: where `EventPublisher` publishes. No default: a file names it."""
    files = {name: _section(name, "publisher") for name in SHIPPED_CONFIGS}
    heads = ["key", "type", "default", *(f"`{file}`" for file in SHIPPED_CONFIGS.values())]
    rows = ["| " + " | ".join([*heads, "meaning"]) + " |", "|" + "---|" * (len(heads) + 1)]
    shipped = [_value(files[n]["topic"]) if "topic" in files[n] else "" for n in SHIPPED_CONFIGS]
    meaning = "the topic `EventPublisher` and `AsyncEventPublisher` publish to"
    rows.append(
        "| " + " | ".join(["`topic`", "non-empty string", "required", *shipped, meaning]) + " |"
    )
    return "\n".join(rows) + "\n"


def _pool_meanings() -> dict[str, str]:
    """Each `PoolKwargs` key's docstring (the string under its annotation), on one line."""
    tree = ast.parse(Path(pool_options.__file__).read_text())
    kwargs = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PoolKwargs")
    meanings = {}
    for key, doc in itertools.pairwise(kwargs.body):
        documented = isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
        if documented and isinstance(key, ast.AnnAssign) and isinstance(key.target, ast.Name):
            text = " ".join(str(doc.value.value).split())  # type: ignore[attr-defined]
            text = re.sub(r" \(default [^)]*\)\.$", ".", text)  # the table has a default column
            meanings[key.target.id] = text.replace("|", "\\|")
    return meanings


def _section(client: str, section: str) -> dict[str, Any]:
    """A section of the client's shipped file, as written (before substitution)."""
    data: dict[str, Any] = yaml.safe_load(shipped_config(client).read_text())
    return dict(data.get(section) or {})


def _ordered(model: type[ClientSettings]) -> list[str]:
    """`client`, the servers, the client's options as the client lists them, the kit's."""
    kit = [name for name in model.KIT_OPTIONS if name != "client"]
    options = [n for n in model.model_fields if n not in (*model.KIT_OPTIONS, "bootstrap_servers")]
    return ["client", "bootstrap_servers", *options, *kit]


def _kafka_section(client: str, model: type[ClientSettings]) -> dict[str, Any]:
    """The shipped file's `kafka:` values by field, as written (before substitution)."""
    data = yaml.safe_load(shipped_config(client).read_text())
    spellings = model.spellings()
    return {spellings[key]: value for key, value in data["kafka"].items()}


def _value(value: object) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        text = ".inf" if math.isinf(value) else f"{value:g}"
        return f"`{text}`"
    if isinstance(value, list):
        return f"`{value}`"
    return f"`{value}`".replace("|", "\\|")


def _type(field: FieldInfo) -> str:
    return _describe(field.annotation, list(field.metadata))


def _describe(annotation: Any, metadata: list[Any]) -> str:
    """A type in words: `integer 0..900000`, `one of none, gzip`, `... or null`."""
    if annotation == ExistingFile:
        return "path of a file"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType):
        members = [m for m in typing.get_args(annotation) if m is not NoneType]
        text = " or ".join(_describe(m, metadata) for m in members)
        return f"{text} or null" if len(members) < len(typing.get_args(annotation)) else text
    if origin is typing.Annotated:
        base, *more = typing.get_args(annotation)
        inner = [m for info in more for m in getattr(info, "metadata", [info])]
        return _describe(base, [*metadata, *inner])
    if origin is typing.Literal:
        return "one of " + ", ".join(
            f"`{_value(v).strip('`')}`" for v in typing.get_args(annotation)
        )
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"list of {_describe(item, [])}s"
    if annotation is bool:
        return "boolean"
    if annotation is SecretStr:
        return "secret string"
    if annotation is str:
        flags = [getattr(m, "func", None) for m in metadata]
        choices = next((f.choices for f in flags if isinstance(f, Flags)), None)
        return "string" if choices is None else "comma-separated " + ", ".join(choices)
    if annotation in (int, float):
        return _number(annotation, metadata)
    return getattr(annotation, "__name__", str(annotation))


def _number(kind: type, metadata: list[Any]) -> str:
    name = "integer" if kind is int else "number"
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    above = next((m.gt for m in metadata if isinstance(m, annotated_types.Gt)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and math.isinf(typing.cast(float, low)):
        return "`.inf`"
    if low is not None and high is not None:
        return f"{name} {_value(low).strip('`')}..{_value(high).strip('`')}"
    if low is not None:
        return f"{name} >= {_value(low).strip('`')}"
    if above is not None:
        return f"{name} > {_value(above).strip('`')}"
    return name


def main() -> None:
    """Rewrite the reference in a source checkout (or print it with `-`)."""
    text = render_reference()
    if sys.argv[1:] == ["-"]:
        sys.stdout.write(text)
    else:
        REFERENCE_PATH.write_text(text)
        print(f"wrote {REFERENCE_PATH}")


if __name__ == "__main__":
    main()
