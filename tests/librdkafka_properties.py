"""librdkafka's own table of configuration properties, read from the library confluent-kafka
loaded (`rd_kafka_conf_properties_show`, the source of librdkafka's CONFIGURATION.md): the
truth the confluent settings model is checked against."""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka


@dataclass(frozen=True)
class Property:
    name: str
    scope: str  # "*" both, "P" producer, "C" consumer
    range: str  # "1 .. 1000", "none, gzip", "true, false" or ""
    default: str
    type: str  # "integer", "float", "boolean", "enum value", "string", "CSV flags", ...
    alias_of: str | None
    deprecated: bool
    topic_level: bool

    @property
    def bounds(self) -> tuple[float, float] | None:
        low, sep, high = self.range.partition(" .. ")
        return (float(low), float(high)) if sep else None

    @property
    def choices(self) -> list[str]:
        return [choice.strip() for choice in self.range.split(",")] if self.range else []


def _library() -> ctypes.CDLL:
    """The librdkafka confluent-kafka runs on (a wheel bundles its own)."""
    package = Path(confluent_kafka.__file__).parent
    bundled = sorted(package.parent.glob("confluent_kafka.libs/librdkafka*")) + sorted(
        package.glob(".dylibs/librdkafka*")
    )
    path = str(bundled[0]) if bundled else ctypes.util.find_library("rdkafka")
    assert path, "librdkafka not found next to confluent_kafka"
    return ctypes.CDLL(path)


def _table() -> str:
    library = _library()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    library.rd_kafka_conf_properties_show.argtypes = [ctypes.c_void_p]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "properties.md"
        stream = libc.fopen(str(path).encode(), b"w")
        library.rd_kafka_conf_properties_show(stream)
        libc.fclose(stream)
        return path.read_text()


_ALIAS = re.compile(r"^Alias for `([^`]+)`")


def properties() -> list[Property]:
    """Every property, global ones first, as librdkafka lists them."""
    found = []
    topic_level = False
    for line in _table().splitlines():
        if line.startswith("## Topic"):
            topic_level = True
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 6 or cells[0] in ("Property", "") or set(cells[0]) == {"-"}:
            continue
        name, scope, range_, default, _importance = cells[:5]
        description = "|".join(cells[5:])
        kind = re.search(r"\*Type: ([^*]+)\*", description)
        alias = _ALIAS.match(description)
        found.append(
            Property(
                name=name,
                scope=scope,
                range=range_,
                default=default,
                type=kind.group(1) if kind else "",
                alias_of=alias.group(1) if alias else None,
                deprecated="**DEPRECATED**" in description,
                topic_level=topic_level,
            )
        )
    return found
