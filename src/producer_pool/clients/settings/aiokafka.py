"""aiokafka's `AIOKafkaProducer` options, for the `aiokafka` kit.

Each option by aiokafka's own name, typed, with aiokafka's default; the kafka-python names
aiokafka does not have (`batch_size`, `retries`, `delivery_timeout_ms`, ...) are refused
with what aiokafka has instead. aiokafka takes TLS as an `ssl.SSLContext` only: here it
can be given as files too (`ssl_cafile`, `ssl_certfile`, `ssl_keyfile`, `ssl_password`),
from which the context is built (aiokafka's `create_ssl_context`) when the settings are
validated, so a wrong file or password is refused then, naming its key.
`tests/unit/test_settings_models.py` checks the model against the installed aiokafka.
"""

from __future__ import annotations

import ssl
from typing import Any, ClassVar, Literal

from pydantic import PrivateAttr, SecretStr, model_validator

from ..redact import reveal
from ._base import ClientSettings, Count, ExistingFile, Positive, check_sasl_library

__all__ = ["AIOKafkaSettings"]

_NOT_IN_AIOKAFKA = "a kafka-python option aiokafka does not have"

#: The options that describe the TLS context (not aiokafka's own: it takes `ssl_context`).
SSL_FILES = ("ssl_cafile", "ssl_capath", "ssl_certfile", "ssl_keyfile", "ssl_password")


class AIOKafkaSettings(ClientSettings):
    """`kafka:` for `client: aiokafka`."""

    CLIENT: ClassVar[str] = "aiokafka"
    CODE_ONLY: ClassVar[frozenset[str]] = frozenset(
        {
            "key_serializer",
            "value_serializer",
            "partitioner",
            "ssl_context",
            "sasl_oauth_token_provider",
            "loop",
        }
    )
    REFUSED: ClassVar[dict[str, str]] = {
        "transactional_id": "assigned per producer by the kit: set transactional_id_prefix",
        "api_version": "deprecated by aiokafka (a no-op since 0.13)",
        "batch_size": "aiokafka's name for it is max_batch_size",
        "retries": "aiokafka retries until request_timeout_ms; it has no retries option",
        "delivery_timeout_ms": "aiokafka has none: request_timeout_ms bounds a send",
        "max_block_ms": "aiokafka has none: send() waits while the batch is full",
        "buffer_memory": _NOT_IN_AIOKAFKA,
        "max_in_flight_requests_per_connection": _NOT_IN_AIOKAFKA,
        "reconnect_backoff_ms": f"{_NOT_IN_AIOKAFKA} (retry_backoff_ms is)",
        "reconnect_backoff_max_ms": _NOT_IN_AIOKAFKA,
    }

    client: Literal["aiokafka"] = "aiokafka"
    client_id: str | None = None
    metadata_max_age_ms: Count = 300_000
    request_timeout_ms: Positive = 40_000
    acks: Literal[0, 1, -1, "all"] | None = None
    """None: aiokafka's default, 1, or all when idempotence is on."""
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    max_batch_size: Positive = 16_384
    max_request_size: Positive = 1_048_576
    linger_ms: Count = 0
    retry_backoff_ms: Count = 100
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    connections_max_idle_ms: Count | None = 540_000
    enable_idempotence: bool = False
    transaction_timeout_ms: Positive = 60_000
    sasl_mechanism: Literal["PLAIN", "GSSAPI", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = (
        "PLAIN"
    )
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = None
    sasl_kerberos_service_name: str = "kafka"
    sasl_kerberos_domain_name: str | None = None
    ssl_cafile: ExistingFile | None = None
    ssl_capath: str | None = None
    ssl_certfile: ExistingFile | None = None
    ssl_keyfile: ExistingFile | None = None
    ssl_password: SecretStr | None = None

    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _as_aiokafka_would(self) -> AIOKafkaSettings:
        """What `AIOKafkaProducer()` (or its start) would refuse; the TLS context built."""
        idempotent = self.enable_idempotence or self.transactional
        explicit = "enable_idempotence" in self.model_fields_set
        if self.transactional and explicit and not self.enable_idempotence:
            raise ValueError("enable_idempotence: a transactional producer needs it true")
        if idempotent and self.acks not in (None, -1, "all"):
            raise ValueError(f"acks: must be all with enable_idempotence (got {self.acks!r})")
        if self.compression_type is not None:
            from aiokafka import AIOKafkaProducer

            available, _ = AIOKafkaProducer._COMPRESSORS[self.compression_type]
            if not available():
                raise ValueError(f"compression_type: {self.compression_type} needs its library")
        if self.security_protocol.startswith("SASL_"):
            self._check_sasl()
        if self.security_protocol.endswith("SSL"):
            self._ssl_context = self._tls()
        elif any(getattr(self, name) is not None for name in SSL_FILES):
            raise ValueError(f"security_protocol: {self.security_protocol} uses no TLS files")
        return self

    def _check_sasl(self) -> None:
        check_sasl_library(self.sasl_mechanism)
        if self.sasl_mechanism == "PLAIN" and None in (
            self.sasl_plain_username,
            self.sasl_plain_password,
        ):
            raise ValueError("sasl_mechanism: PLAIN needs sasl_plain_username and _password")
        if self.sasl_mechanism == "OAUTHBEARER":
            raise ValueError(
                "sasl_mechanism: OAUTHBEARER needs sasl_oauth_token_provider, a Python "
                "object: set it in code (in the kit's settings)"
            )

    def _tls(self) -> ssl.SSLContext:
        from aiokafka.helpers import create_ssl_context

        files = reveal({name.removeprefix("ssl_"): getattr(self, name) for name in SSL_FILES})
        try:
            context: ssl.SSLContext = create_ssl_context(**files)
            return context
        except (ssl.SSLError, OSError) as exc:
            key = "ssl_certfile" if self.ssl_certfile else "ssl_cafile"
            raise ValueError(f"{key}: cannot load the TLS files ({exc})") from None

    def client_options(self) -> dict[str, Any]:
        options = super().client_options()
        for name in SSL_FILES:
            options.pop(name, None)
        if self._ssl_context is not None:
            options["ssl_context"] = self._ssl_context
        return options
