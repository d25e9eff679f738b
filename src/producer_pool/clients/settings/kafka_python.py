"""kafka-python's `KafkaProducer` options (kafka-python 3), for the `kafka-python` kit.

Each option by kafka-python's own name, typed, with kafka-python's default; what
`KafkaProducer()` refuses (a removed option, a codec whose library is missing, settings
that contradict idempotence) is refused here, when the settings are validated.
`tests/unit/test_settings_models.py` checks the model against the installed kafka-python.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from ..redact import reveal
from ._base import ClientSettings, Count, ExistingFile, Positive, check_sasl_library

__all__ = ["KafkaPythonSettings"]

_INFINITE = float("inf")


class KafkaPythonSettings(ClientSettings):
    """`kafka:` for `client: kafka-python` (the default)."""

    CLIENT: ClassVar[str] = "kafka-python"
    CODE_ONLY: ClassVar[frozenset[str]] = frozenset(
        {
            "key_serializer",
            "value_serializer",
            "partitioner",
            "selector",
            "kafka_client",
            "metric_reporters",
            "sasl_oauth_token_provider",
            "ssl_context",
            "socket_options",
        }
    )
    REFUSED: ClassVar[dict[str, str]] = {
        "transactional_id": "assigned per producer by the kit: set transactional_id_prefix",
        "socks5_proxy": "deprecated by kafka-python: use proxy_url",
        "buffer_memory": "removed in kafka-python 3 (KafkaProducer refuses it)",
    }

    client: Literal["kafka-python"] = "kafka-python"
    client_id: str | None = None
    acks: Literal[0, 1, -1, "all"] = -1
    enable_idempotence: bool = True
    delivery_timeout_ms: Annotated[float, Field(gt=0)] = 120_000
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    retries: Count | Annotated[float, Field(ge=_INFINITE)] = _INFINITE
    batch_size: Count = 16_384
    linger_ms: Count = 0
    connections_max_idle_ms: Positive = 540_000
    max_block_ms: Count = 60_000
    max_request_size: Positive = 1_048_576
    allow_auto_create_topics: bool = True
    metadata_max_age_ms: Count = 300_000
    retry_backoff_ms: Count = 100
    request_timeout_ms: Positive = 30_000
    receive_message_max_bytes: Positive = 100_000_000
    receive_buffer_bytes: Positive | None = None
    send_buffer_bytes: Positive | None = None
    reconnect_backoff_ms: Count = 50
    reconnect_backoff_max_ms: Count = 30_000
    max_in_flight_requests_per_connection: Positive = 5
    transaction_timeout_ms: Positive = 60_000
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_check_hostname: bool = True
    ssl_cafile: ExistingFile | None = None
    ssl_certfile: ExistingFile | None = None
    ssl_keyfile: ExistingFile | None = None
    ssl_password: SecretStr | None = None
    ssl_crlfile: ExistingFile | None = None
    ssl_ciphers: str | None = None
    api_version: Annotated[list[Count], Field(min_length=2, max_length=3)] | None = None
    metrics_enabled: bool = True
    metrics_num_samples: Positive = 2
    metrics_sample_window_ms: Positive = 30_000
    sasl_mechanism: (
        Literal["PLAIN", "GSSAPI", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"]
        | None
    ) = None
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = None
    sasl_kerberos_name: str | None = None
    sasl_kerberos_service_name: str = "kafka"
    sasl_kerberos_domain_name: str | None = None
    proxy_url: str | None = None
    client_dns_lookup: Literal["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"] = (
        "use_all_dns_ips"
    )

    @model_validator(mode="after")
    def _as_kafka_python_would(self) -> KafkaPythonSettings:
        """What `KafkaProducer()` (or its first connection) would refuse."""
        if self.delivery_timeout_ms < self.linger_ms + self.request_timeout_ms:
            raise ValueError(
                "delivery_timeout_ms: must be >= linger_ms + request_timeout_ms "
                f"({self.linger_ms} + {self.request_timeout_ms})"
            )
        self._check_idempotence()
        self._check_compression()
        self._check_sasl()
        self._check_tls()
        return self

    def _check_idempotence(self) -> None:
        set_ = self.model_fields_set
        if self.transactional and "enable_idempotence" in set_ and not self.enable_idempotence:
            raise ValueError("enable_idempotence: a transactional producer needs it true")
        if not (self.transactional or "enable_idempotence" in set_):
            return  # kafka-python turns idempotence off (with a warning) on a conflict
        if not self.enable_idempotence:
            return
        if "acks" in set_ and self.acks not in (-1, "all"):
            raise ValueError(f"acks: must be all with enable_idempotence (got {self.acks!r})")
        if "retries" in set_ and self.retries == 0:
            raise ValueError("retries: must be > 0 with enable_idempotence (got 0)")
        if self.max_in_flight_requests_per_connection > 5:
            raise ValueError(
                "max_in_flight_requests_per_connection: must be <= 5 with enable_idempotence "
                f"(got {self.max_in_flight_requests_per_connection})"
            )

    def _check_compression(self) -> None:
        if self.compression_type is None:
            return
        from .. import _quiet_kafka  # noqa: F401 # isort: skip - first: kafka-python warns
        from kafka import KafkaProducer

        available, _ = KafkaProducer._COMPRESSORS[self.compression_type]
        if not available():
            raise ValueError(
                f"compression_type: {self.compression_type} needs its library installed "
                f"(pip install {_CODEC_PACKAGES[self.compression_type]})"
            )

    def _check_sasl(self) -> None:
        if not self.security_protocol.startswith("SASL_"):
            return
        mechanism = self.sasl_mechanism
        if mechanism is None:
            raise ValueError(f"sasl_mechanism: required with {self.security_protocol}")
        check_sasl_library(mechanism)
        if mechanism == "PLAIN" and None in (self.sasl_plain_username, self.sasl_plain_password):
            raise ValueError("sasl_mechanism: PLAIN needs sasl_plain_username and _password")
        if mechanism == "OAUTHBEARER":
            raise ValueError(
                "sasl_mechanism: OAUTHBEARER needs sasl_oauth_token_provider, a Python "
                "object: set it in code (in the kit's settings)"
            )
        if mechanism == "AWS_MSK_IAM" and self.security_protocol != "SASL_SSL":
            raise ValueError("sasl_mechanism: AWS_MSK_IAM needs security_protocol SASL_SSL")

    def _check_tls(self) -> None:
        """kafka-python builds its TLS context at every connection, in its I/O thread: a
        file that does not load (or its ssl_crlfile, which kafka-python 3.0 hands to
        `load_verify_locations(crl=...)`, a TypeError) failed each connection, and the
        bootstrap timed out as "cannot reach Kafka", the cause only logged. Built here once
        by kafka-python's own code, a file at a time, so the error names the key."""
        if not self.security_protocol.endswith("SSL"):
            return
        from .._kafka_compat import build_ssl_context  # kafka-python, only when it is used

        config: dict[str, Any] = {"ssl_context": None, "ssl_check_hostname": False}
        for keys in _TLS_STAGES:
            config.update(reveal({key: getattr(self, key) for key in keys}))
            if all(config.get(key) is None for key in keys):
                continue
            try:
                build_ssl_context(dict.fromkeys(_TLS_OPTIONS) | config)
            except (OSError, TypeError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ValueError(f"{keys[0]}: kafka-python cannot load it ({exc})") from None

    def client_options(self) -> dict[str, Any]:
        options = super().client_options()
        if "api_version" in options:  # kafka-python wants a tuple; YAML has lists
            options["api_version"] = tuple(options["api_version"])
        return options


#: kafka-python's TLS file options, loaded in this order (the first that fails is named).
_TLS_STAGES = (("ssl_cafile",), ("ssl_certfile", "ssl_keyfile", "ssl_password"), ("ssl_crlfile",))
_TLS_OPTIONS = ("ssl_context", "ssl_check_hostname", *(key for keys in _TLS_STAGES for key in keys))


#: The package each of kafka-python's codecs needs.
_CODEC_PACKAGES = {"gzip": "zlib", "snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}
