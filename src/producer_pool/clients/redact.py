"""Settings safe to print, shared by both Kafka clients: secrets never reach a repr, a log
line or an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["is_secret", "redact", "reveal"]

_SECRET = re.compile(r"password|secret|token|credential", re.IGNORECASE)


def is_secret(key: str) -> bool:
    """Whether a setting's value must never be printed (passwords, tokens, ...)."""
    return bool(_SECRET.search(key))


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with the value of every secret-looking key replaced by `***`."""
    return {key: "***" if is_secret(key) else value for key, value in settings.items()}


def reveal(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with each secret's plain value (pydantic's `SecretStr`, or alike): only
    for handing to the client library, never for printing."""
    return {key: _plain(value) for key, value in settings.items()}


def _plain(value: Any) -> Any:
    get_secret_value = getattr(value, "get_secret_value", None)
    return get_secret_value() if callable(get_secret_value) else value
