"""Settings safe to print, shared by both Kafka clients: secrets never reach a repr, a log
line or an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["is_secret", "redact"]

_SECRET = re.compile(r"password|secret|token|credential", re.IGNORECASE)


def is_secret(key: str) -> bool:
    """Whether a setting's value must never be printed (passwords, tokens, ...)."""
    return bool(_SECRET.search(key))


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with the value of every secret-looking key replaced by `***`."""
    return {key: "***" if is_secret(key) else value for key, value in settings.items()}
