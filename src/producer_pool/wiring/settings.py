"""Validated configuration (pydantic, strict): one-line errors that name the file and the key.

Types are strict (`true` is not an integer, `"5"` is not a number) except for values that
came from the environment, which are typed by their field first (`FromEnv`). The pool's
options are validated into the pool's own `PoolOptions`; the common kafka-python options
are typed fields; any other option must be one kafka-python knows.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

try:
    from pydantic import (
        BaseModel,
        ConfigDict,
        Field,
        PlainValidator,
        SecretStr,
        ValidationError,
        model_validator,
    )
except ImportError as exc:  # pragma: no cover - exercised by installing without the extra
    raise ImportError(
        f"producer_pool.settings needs the 'di' extra ({exc.name} is missing): "
        "pip install 'producer-pool[di]'"
    ) from exc

from ..clients.redact import is_secret
from ..core.options import PLAIN_OPTIONS, PoolOptions, violation
from ..errors import ConfigError
from .config_file import FromEnv

__all__ = ["KafkaSettings", "PoolSettings", "PublisherSettings", "Settings", "validate_settings"]

Milliseconds = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _pool_options(data: Any) -> PoolOptions:
    """The `pool:` section as the pool's own `PoolOptions`: each key typed (from the
    environment) and checked by the pool's rules, so a file and a constructor refuse the
    same values in the same words. Only plain values can be set here, not the callables."""
    if isinstance(data, PoolOptions):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"must be a mapping of pool options{_got('pool', data)}")
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


#: The `pool:` section: validated into `PoolOptions`, whose defaults it keeps (but `name`).
PoolSettings = Annotated[PoolOptions, PlainValidator(_pool_options)]
_POOL_TYPES = get_type_hints(PoolOptions)


class KafkaSettings(_Strict):
    """kafka-python `KafkaProducer` options by their own names. The common ones are typed;
    any other must be an option kafka-python knows. Secrets stay `SecretStr` until the
    producer is built."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    bootstrap_servers: Annotated[str, Field(min_length=1)] | list[str]
    client_id: str | None = None
    acks: Literal[0, 1, -1, "all"] = "all"
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    linger_ms: Count | None = None
    batch_size: Count | None = None
    buffer_memory: Count | None = None
    max_request_size: Milliseconds | None = None
    retries: Count | None = None
    max_in_flight_requests_per_connection: Milliseconds | None = None
    enable_idempotence: bool | None = None
    request_timeout_ms: Milliseconds | None = None
    delivery_timeout_ms: Milliseconds | None = None
    max_block_ms: Milliseconds | None = None
    bootstrap_timeout_ms: Milliseconds | None = None
    retry_backoff_ms: Count | None = None
    reconnect_backoff_ms: Count | None = None
    reconnect_backoff_max_ms: Count | None = None
    metadata_max_age_ms: Milliseconds | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    sasl_mechanism: (
        Literal["PLAIN", "GSSAPI", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None
    ) = None
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _known_options(self) -> KafkaSettings:
        from ..clients import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
        from kafka import KafkaProducer

        known = sorted(set(KafkaProducer.DEFAULT_CONFIG) - {"transactional_id"})
        for key in self.model_extra or {}:
            if key not in known:
                close = difflib.get_close_matches(key, [*known, *type(self).model_fields], 1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ValueError(f"{key}: unknown kafka-python producer option{hint}")
        return self

    def producer_options(self) -> dict[str, Any]:
        """The options to build producers with; unset (null) ones keep kafka-python's default.

        Secrets stay `SecretStr`: the factory unwraps them only to build a producer.
        """
        options = {k: v for k, v in self.model_dump().items() if v is not None}
        return {
            k: SecretStr(v) if is_secret(k) and isinstance(v, str) else v
            for k, v in options.items()
        }


class PublisherSettings(_Strict):
    topic: Annotated[str, Field(min_length=1)]


class Settings(_Strict):
    pool: PoolSettings = PoolOptions(name="events")
    kafka: KafkaSettings
    publisher: PublisherSettings


def validate_settings(data: Any, source: str | Path) -> Settings:
    """Validate loaded YAML; raise `ConfigError` with one line: `file: key.path: reason`."""
    try:
        return Settings.model_validate(_typed_from_env(data, Settings))
    except ValidationError as exc:
        error = exc.errors()[0]
        keys = [str(part) for part in error["loc"] if not _is_type_label(part)]
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        elif error["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = error["msg"].removeprefix("Value error, ")
            head, _, rest = reason.partition(": ")
            if keys in (["kafka"], ["pool"]) and rest and head.isidentifier():  # one key's fault
                keys, reason = [*keys, head], rest
            elif "input" in error and not isinstance(error["input"], dict):
                reason += _got(keys[-1] if keys else "", error["input"])
        key = ".".join(keys)
        raise ConfigError(f"{source}: {key}: {reason}" if key else f"{source}: {reason}") from None


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
    typed = {}
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
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
        if (member is int or isinstance(member, int)) and text.lstrip("-").isdigit():
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
