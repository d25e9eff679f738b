"""What every client's settings model shares: strict types, every spelling of an option the
kit accepts, the kit's own options, and one line for every name the client would refuse.

A model's fields are the client's options (with the client's defaults), plus the kit's:
`client`, `bootstrap_timeout_ms`, `transactional` and `transactional_id_prefix`.
`producer_options()` gives what the kit is built with: only the options that were set, so
the client keeps its own defaults for the rest.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator

from .._base import DEFAULT_BOOTSTRAP_TIMEOUT_MS
from .._servers import servers_problem

__all__ = [
    "ClientSettings",
    "Count",
    "ExistingFile",
    "Positive",
    "Servers",
    "check_sasl_library",
]

Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(gt=0)]


def _usable_servers(servers: str) -> str:
    problem = servers_problem(servers)
    if problem is not None:
        raise ValueError(problem)
    return servers


_Server = Annotated[str, Field(min_length=1), AfterValidator(_usable_servers)]
#: `host:port[,host:port]`, or a list of them.
Servers = _Server | Annotated[list[_Server], Field(min_length=1)]


def _existing_file(path: str) -> str:
    if not os.path.isfile(path):
        raise ValueError("no such file")
    return path


#: A path the client reads when it starts: a missing file is refused now, not then.
ExistingFile = Annotated[str, AfterValidator(_existing_file)]


def check_sasl_library(mechanism: str | None) -> None:
    """Refuse GSSAPI without the `gssapi` package, which neither Python client requires:
    the first connection failed on it (aiokafka: an AssertionError traceback; kafka-python:
    a bootstrap that timed out as "cannot reach Kafka", the cause only logged)."""
    if mechanism == "GSSAPI" and importlib.util.find_spec("gssapi") is None:
        raise ValueError("sasl_mechanism: GSSAPI needs the gssapi package (pip install gssapi)")


def _in_style_of(key: str, names: Mapping[str, str]) -> list[str]:
    """The names spelt as `key` is (`linger.ms` or `linger_ms`), for a "did you mean"."""
    if "." in key:
        return [name for name in names if "_" not in name or "." in name]
    if "_" in key:
        return [name for name in names if "." not in name]
    return list(names)


#: Each model's spellings (every accepted name -> its field), computed once.
_SPELLINGS: dict[type[ClientSettings], dict[str, str]] = {}


class ClientSettings(BaseModel):
    """The base of every kit's settings model; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    CLIENT: ClassVar[str] = ""
    """The client's name in messages ("kafka-python")."""
    CODE_ONLY: ClassVar[frozenset[str]] = frozenset()
    """The client's options that take Python objects (callables, classes): code only."""
    REFUSED: ClassVar[Mapping[str, str]] = {}
    """Names refused with a reason of their own (set by the kit, deprecated, removed)."""
    KIT_OPTIONS: ClassVar[tuple[str, ...]] = (
        "client",
        "bootstrap_timeout_ms",
        "transactional",
        "transactional_id_prefix",
    )
    """The kit's own options: not passed to the client as they are."""

    client: str
    bootstrap_servers: Servers
    """The cluster's bootstrap servers: `host:port[,host:port]`, or a list of them."""
    bootstrap_timeout_ms: Positive = DEFAULT_BOOTSTRAP_TIMEOUT_MS
    """How long a new producer may take to prove the cluster answers (every kit's option)."""
    transactional: bool = False
    """Producers with a transactional id each, for `transaction(pool)`."""
    transactional_id_prefix: Annotated[str, Field(min_length=1)] | None = None
    """The transactional ids' prefix (default: a per-process one)."""

    # ------------------------------------------------------------------ names

    @classmethod
    def spellings(cls) -> dict[str, str]:
        """Every name the model accepts -> the field it sets."""
        if cls not in _SPELLINGS:
            names: dict[str, str] = {}
            for field_name, field in cls.model_fields.items():
                alias = field.validation_alias
                choices = alias.choices if isinstance(alias, AliasChoices) else [field_name]
                names.update(dict.fromkeys(map(str, choices), field_name))
            _SPELLINGS[cls] = names
        return _SPELLINGS[cls]

    @classmethod
    def option_name(cls, field_name: str) -> str:
        """The name the client knows a field by (librdkafka's dotted one, say)."""
        return cls.model_fields[field_name].serialization_alias or field_name

    @classmethod
    def other_spellings(cls, field_name: str) -> list[str]:
        """A field's accepted names but its own."""
        own = cls.option_name(field_name)
        return [s for s, f in cls.spellings().items() if f == field_name and s != own]

    @classmethod
    def refusal(cls, key: str) -> str:
        """Why `key` is refused, with a "did you mean" when a known name is close."""
        if key in cls.REFUSED:
            return cls.REFUSED[key]
        if key in cls.CODE_ONLY:
            return (
                "takes a Python object: set it in code (in the kit's settings), "
                "not in a config file"
            )
        close = difflib.get_close_matches(key, _in_style_of(key, cls.spellings()), 1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown {cls.CLIENT} producer option{hint}"

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        """Refuse what the client would refuse by name, and an option set twice under two
        of its spellings (the client would keep one silently)."""
        if isinstance(data, Mapping):
            spellings = cls.spellings()
            seen: dict[str, str] = {}
            for key in data:
                field_name = spellings.get(key) if isinstance(key, str) else None
                if field_name is None:
                    raise ValueError(f"{key}: {cls.refusal(str(key))}")
                if field_name in seen:
                    raise ValueError(f"{key}: the same option as {seen[field_name]}; set one")
                seen[field_name] = key
        return data

    @model_validator(mode="after")
    def _prefix_needs_transactions(self) -> ClientSettings:
        if self.transactional_id_prefix is not None and not self.transactional:
            raise ValueError("transactional_id_prefix: only for transactional: true")
        return self

    # ------------------------------------------------------------------ the kit

    def client_options(self) -> dict[str, Any]:
        """The client's options that were set, by the client's names; null means the
        client's default. Secrets stay `SecretStr`: the kit reveals them only to build a
        producer."""
        options = self.model_dump(by_alias=True, exclude_unset=True, exclude=set(self.KIT_OPTIONS))
        return {key: value for key, value in options.items() if value is not None}

    def producer_options(self) -> dict[str, Any]:
        """What the kit is built with: the client's options and `bootstrap_timeout_ms`."""
        return {**self.client_options(), "bootstrap_timeout_ms": self.bootstrap_timeout_ms}

    def kit(self) -> Any:
        """A new kit (for one pool) built from these settings."""
        from ..kit import kit_class

        return kit_class(self.client)(
            self.producer_options(),
            transactional=self.transactional,
            transactional_id_prefix=self.transactional_id_prefix,
        )
