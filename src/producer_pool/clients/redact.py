"""Settings safe to print, for every client: secrets never reach a repr, a log line or an
error, whichever client they are for and however their option is spelt.

A value is secret by its key (`sasl_plain_password`, `sasl.password`, `ssl.key.pem`,
`sasl.jaas.config`, `sasl.oauthbearer.config`, tokens, ...) or by what it holds (a PEM
private key, a `clientSecret=...` or `password="..."` inside a config string), and is then
hidden wherever it appears, inside other text included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "Secrets", "is_secret", "is_secret_value", "redact", "reveal"]

MASK = "***"
"""What a secret value is replaced with."""

#: Key names whose values are secret, matched on the name lower-cased with `_` as `.`.
_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|credential|jaas|oauthbearer\.config|private|\.pem$|(^|\.)key$"
)
#: Values that are secret whatever their key: a private key, an assignment of a secret.
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|(secret|password|passwd|token)\w*\s*[=:]", re.IGNORECASE
)
#: `name=value` and `name="value"` pairs inside a config string (JAAS, OAUTHBEARER).
_ASSIGNMENT = re.compile(r"""([\w.]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;,"']+))""")
#: Shorter values are not looked for inside other text: "a" would mask every "a".
_MIN_SCRUBBED = 4


def is_secret(key: str) -> bool:
    """Whether a setting's value must never be printed, by its key (any spelling)."""
    return bool(_SECRET_KEY.search(key.lower().replace("_", ".")))


def is_secret_value(value: object) -> bool:
    """Whether a value holds a secret whatever its key (a PEM key, `clientSecret=...`)."""
    return isinstance(value, str) and bool(_SECRET_VALUE.search(value))


def _hidden(key: str, value: object) -> bool:
    return is_secret(key) or is_secret_value(_plain(value))


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with every secret value replaced by `***`."""
    return {key: MASK if _hidden(key, value) else value for key, value in settings.items()}


def reveal(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with each secret's plain value (pydantic's `SecretStr`, or alike): only
    for handing to the client library, never for printing."""
    return {key: _plain(value) for key, value in settings.items()}


def _plain(value: Any) -> Any:
    get_secret_value = getattr(value, "get_secret_value", None)
    return get_secret_value() if callable(get_secret_value) else value


class Secrets:
    """The secret values of one client's settings, to hide them in any text (an error the
    client raised, a log line) as well as in the settings themselves."""

    __slots__ = ("_values",)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        values: set[str] = set()
        for key, value in settings.items():
            plain = _plain(value)
            if not isinstance(plain, str) or not _hidden(key, plain):
                continue
            values.add(plain)
            # a multi-line value (a PEM key) may surface a line at a time, or escaped
            values.update(line for line in plain.splitlines() if not line.startswith("-----"))
            for name, *quoted in _ASSIGNMENT.findall(plain):
                inner = next((part for part in quoted if part), "")
                if is_secret(name) or _SECRET_VALUE.search(f"{name}="):
                    values.add(inner)
        # Longest first, so that a value containing another is hidden whole.
        self._values = sorted((v for v in values if len(v) >= _MIN_SCRUBBED), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def redact(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """`redact(settings)`, and any of these secrets inside other values hidden too."""
        return {
            key: MASK if _hidden(key, value) else self._scrub_value(value)
            for key, value in settings.items()
        }

    def scrub(self, text: str) -> str:
        """`text` with every secret value in it replaced by `***`."""
        for value in self._values:
            text = text.replace(value, MASK)
        return text

    def _scrub_value(self, value: object) -> object:
        return self.scrub(value) if isinstance(value, str) and self._values else value
