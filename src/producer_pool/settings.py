"""Validated configuration (pydantic): one-line errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._options import DEFAULTS, violation
from .errors import ConfigError

__all__ = ["KafkaSettings", "PoolSettings", "PublisherSettings", "Settings", "validate_settings"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolSettings(_Strict):
    """The `ProducerPool` options: defaults and rules come from the pool itself (`_options`)."""

    name: str = "events"
    max_size: int = DEFAULTS["max_size"]
    min_size: int = DEFAULTS["min_size"]
    acquire_timeout: float = DEFAULTS["acquire_timeout"]
    max_waiting: int | None = DEFAULTS["max_waiting"]
    max_lifetime: float | None = DEFAULTS["max_lifetime"]
    max_idle: float | None = DEFAULTS["max_idle"]
    leak_timeout: float | None = DEFAULTS["leak_timeout"]
    on_exhausted: Literal["block", "share"] = DEFAULTS["on_exhausted"]
    close_timeout: float = DEFAULTS["close_timeout"]

    @field_validator("*", mode="before")
    @classmethod
    def _pool_rule(cls, value: Any, info: ValidationInfo) -> Any:
        """The pool's own rule for the key, before any coercion (so `true` is no integer)."""
        requirement = violation(str(info.field_name), value)
        if requirement is not None:
            raise ValueError(requirement)
        return value

    @model_validator(mode="after")
    def _min_within_max(self) -> PoolSettings:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size must be <= max_size={self.max_size} (got {self.min_size})")
        return self

    def pool_options(self) -> dict[str, Any]:
        """Keyword arguments for `ProducerPool` (`close_timeout` included: close's budget)."""
        return self.model_dump()


class KafkaSettings(BaseModel):
    """kafka-python `KafkaProducer` options, by their own names; unknown names are errors."""

    model_config = ConfigDict(extra="allow", frozen=True)

    bootstrap_servers: str = Field(min_length=1)

    @model_validator(mode="after")
    def _known_options(self) -> KafkaSettings:
        from kafka import KafkaProducer

        for key in self.model_extra or {}:
            if key not in KafkaProducer.DEFAULT_CONFIG:
                raise ValueError(f"{key}: unknown kafka-python producer option")
        return self

    def producer_options(self) -> dict[str, Any]:
        """The options to build producers with; unset (null) ones keep kafka-python's default."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PublisherSettings(_Strict):
    topic: str = Field(min_length=1)


class Settings(_Strict):
    pool: PoolSettings = PoolSettings()
    kafka: KafkaSettings
    publisher: PublisherSettings


def validate_settings(data: Any, source: str | Path) -> Settings:
    """Validate loaded YAML; raise `ConfigError` with one line: `file: key.path: reason`."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        elif error["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = error["msg"].removeprefix("Value error, ")
            if "input" in error and not isinstance(error["input"], dict):
                reason += f" (got {error['input']!r})"
        raise ConfigError(f"{source}: {key}: {reason}" if key else f"{source}: {reason}") from None
