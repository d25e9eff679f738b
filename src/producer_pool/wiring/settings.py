"""Validated configuration (pydantic, strict): one-line errors that name the file and the key.

Types are strict (`true` is not an integer, `"5"` is not a number) except for values that
came from the environment, which are typed by their field first (`FromEnv`). The pool's
options are validated into the pool's own `PoolOptions`; the `kafka:` section into the
settings model of the client it names (`kafka.client`, kafka-python by default), which
refuses every option that client would.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from ..errors import ConfigError, missing_extra

try:
    from pydantic import (
        AfterValidator,
        BaseModel,
        ConfigDict,
        Field,
        PlainValidator,
        ValidationError,
    )
except ImportError as exc:  # pragma: no cover - exercised by installing without the extra
    raise ImportError(missing_extra("producer_pool.wiring.settings", "di", exc)) from exc

from ..clients.kit import KITS, settings_model
from ..clients.redact import is_secret
from ..clients.settings import ClientSettings
from ..clients.settings.kafka_python import KafkaPythonSettings
from ..core.options import PLAIN_OPTIONS, PoolOptions, violation
from .config_file import FromEnv

__all__ = [
    "DEFAULT_CLIENT",
    "KafkaSettings",
    "PoolSettings",
    "PublisherSettings",
    "Settings",
    "validate_settings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _pool_options(data: Any) -> PoolOptions:
    """The `pool:` section as the pool's own `PoolOptions`: each key typed (from the
    environment) and checked by the pool's rules, so a file and a constructor refuse the
    same values in the same words. Only plain values can be set here, not the callables."""
    if isinstance(data, PoolOptions):
        return data
    if not isinstance(data, dict):
        raise ValueError("must be a mapping of pool options")  # _one_line adds the value
    for key in data:
        if key not in PLAIN_OPTIONS:
            close = difflib.get_close_matches(str(key), PLAIN_OPTIONS, 1)
            raise ValueError(
                f"{key}: unknown key" + (f"; did you mean {close[0]}?" if close else "")
            )
    typed = {key: _coerce(value, _POOL_TYPES[key]) for key, value in data.items()}
    for key, value in typed.items():
        requirement = violation(key, value)
        if requirement is not None:
            raise ValueError(f"{key}: {requirement}{_got(key, data[key])}")
    return PoolOptions(**{"name": "events", **typed})


PoolSettings = Annotated[PoolOptions, PlainValidator(_pool_options)]
"""The `pool:` section: validated into `PoolOptions`, whose defaults it keeps (but `name`)."""
_POOL_TYPES = get_type_hints(PoolOptions)


KafkaSettings = KafkaPythonSettings
"""0.1's name for the kafka-python settings (`kafka:` of a `client: kafka-python` file)."""

DEFAULT_CLIENT = "kafka-python"
"""The client of a file whose `kafka:` section names none."""


#: Kafka's rule for a topic's name (Java's `Topic.validate`): the clients apply it only
#: when they send (kafka-python raised ValueError from every publish, aiokafka waited 40 s
#: per publish for the metadata of a topic that cannot exist).
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def _topic_name(name: str) -> str:
    if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError("a Kafka topic name is 1 to 249 of a-z A-Z 0-9 . _ - (and not . or ..)")
    return name


class PublisherSettings(_Strict):
    """The `publisher:` section: the topic `EventPublisher` publishes to (no default)."""

    topic: Annotated[str, Field(min_length=1), AfterValidator(_topic_name)]


class Settings(_Strict):
    """A whole configuration file, validated: `pool:`, the `kafka:` section of the client
    it names, `publisher:`."""

    pool: PoolSettings = PoolOptions(name="events")
    kafka: ClientSettings
    """The client's settings: the model of the kit `kafka.client` names."""
    publisher: PublisherSettings


def validate_settings(
    data: Any, source: str | Path, default_client: str = DEFAULT_CLIENT
) -> Settings:
    """Validate loaded YAML; raise `ConfigError` with one line: `file: key.path: reason`.

    The `kafka:` section is validated against the settings model of its client
    (`kafka.client`, else `default_client`): every option that client would refuse is
    refused here, named as the file spells it.
    """
    try:
        if isinstance(data, dict) and isinstance(data.get("kafka"), dict):
            data = {**data, "kafka": _client_settings(data["kafka"], source, default_client)}
        settings = Settings.model_validate(_typed_from_env(data, Settings))
    except ValidationError as exc:
        raise ConfigError(_one_line(exc.errors()[0], source)) from None
    if settings.kafka.transactional and settings.pool.on_exhausted == "share":
        raise ConfigError(
            f"{source}: pool.on_exhausted: must be block for a transactional pool (share "
            "would lend a producer in the middle of another caller's transaction)"
        )
    return settings


def _client_settings(section: dict[Any, Any], source: str | Path, default: str) -> ClientSettings:
    """`kafka:` validated against the model of the client it names."""
    client = section.get("client", default)
    if not isinstance(client, str):
        known = ", ".join(KITS)
        raise ConfigError(f"{source}: kafka.client: must be one of {known}{_got('', client)}")
    try:
        model: type[ClientSettings] = settings_model(client)
    except ConfigError as exc:
        raise ConfigError(f"{source}: kafka.client: {exc}") from None
    except ImportError as exc:
        subject = f"{source}: kafka.client: {client}"
        raise ConfigError(missing_extra(subject, KITS[client].extra, exc)) from None
    try:
        return model.model_validate(_typed_from_env({"client": client, **section}, model))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(_one_line({**error, "loc": ("kafka", *error["loc"])}, source)) from None


def _one_line(error: Any, source: str | Path) -> str:
    """A pydantic error as `file: key.path: reason (got value)`."""
    section_and_key, rest = error["loc"][:2], error["loc"][2:]
    keys = [*map(str, section_and_key), *(str(part) for part in rest if not _is_type_label(part))]
    if error["type"] == "extra_forbidden":
        reason = "unknown key"
    elif error["type"] == "missing":
        reason = "required key is missing"
    else:
        reason = error["msg"].removeprefix("Value error, ")
        head, _, rest = reason.partition(": ")
        if keys in (["kafka"], ["pool"]) and rest and head and " " not in head:  # one key's
            keys, reason = [*keys, head], rest
        elif "input" in error and not isinstance(error["input"], dict):
            reason += _got(keys[-1] if keys else "", error["input"])
    key = ".".join(keys)
    return f"{source}: {key}: {reason}" if key else f"{source}: {reason}"


def _got(key: str, value: object) -> str:
    """` (got 5)`, the value an error refers to: hidden when secret, with its variable when
    it came from the environment."""
    if isinstance(value, FromEnv):
        shown = "***" if is_secret(key) else repr(str(value))
        return f" (got {shown} from ${value.variable})"
    return f" (got {'***' if is_secret(key) else repr(value)})"


def _is_type_label(part: str | int) -> bool:
    """pydantic names the union member it tried in an error's location (`constrained-str`,
    `list[str]`): not a key of the file."""
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool") or not part.isidentifier()
    )


def _typed_from_env(data: Any, model: type[BaseModel]) -> Any:
    """Give each value that came from the environment its field's type ("5" -> 5)."""
    if not isinstance(data, dict):
        return data
    spellings = model.spellings() if issubclass(model, ClientSettings) else {}
    typed = {}
    for key, value in data.items():
        name = spellings.get(key, key) if isinstance(key, str) else None
        field = model.model_fields.get(name) if name is not None else None
        annotation = field.annotation if field is not None else None
        if isinstance(value, FromEnv):
            value = _coerce(value, annotation)
        elif isinstance(value, dict):
            nested = [
                a for a in _members(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if nested:
                value = _typed_from_env(value, nested[0])
        typed[key] = value
    return typed


def _members(annotation: Any) -> list[Any]:
    """The types a field accepts: `int | None` -> [int, NoneType]; Literal values as is."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Literal:
        return list(get_args(annotation))
    return [annotation]


#: An integer as the environment may give one: ASCII digits only (str.isdigit() is true of
#: "²", which int() refuses: a ValueError traceback from a variable).
_INTEGER = re.compile(r"-?[0-9]+")


def _coerce(text: object, annotation: Any) -> Any:
    """The environment's text as the field's type; left as text if it is not one (and
    any value that did not come from the environment, as it is)."""
    if not isinstance(text, FromEnv):
        return text
    members = _members(annotation)
    if NoneType in members and text == "":
        return None
    for member in members:
        if member is bool or member is True or member is False:
            continue
        if (member is int or isinstance(member, int)) and _INTEGER.fullmatch(text):
            number = int(text)
            if member is int or number == member:
                return number
        if member is float:
            try:
                return float(text)
            except ValueError:
                continue
    if bool in members and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text
