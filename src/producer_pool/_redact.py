"""Settings safe to print, shared by both Kafka clients: secrets never reach a repr, a log
line or an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["redact"]

_SECRET = re.compile(r"password|secret|token|credential", re.IGNORECASE)


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with the value of every secret-looking key replaced by `***`."""
    return {key: "***" if _SECRET.search(key) else value for key, value in settings.items()}
