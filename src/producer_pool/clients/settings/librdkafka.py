"""librdkafka's producer properties, for the `confluent` and `confluent-aio` kits.

Every property librdkafka (2.16) applies to a producer, by its own dotted name, typed with
its range or choices and with its default, as librdkafka documents it in its table of
properties; `tests/unit/test_settings_models.py` checks this model against the table of the
librdkafka that confluent-kafka loads. Each option is also accepted as the confluent kits
accept it: with `_` for `.`, under librdkafka's aliases, and by the kafka-python names the
kits translate (`sasl_plain_username`, ...). A property set twice under two spellings, a
consumer property, a callback and a deprecated property are refused; what is left is
checked by librdkafka itself, which builds (and drops) a producer with no broker from the
options: its conflicts between properties and the SSL files it loads are refused here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    model_validator,
)

from .._librdkafka import _ALIASES as KAFKA_PYTHON_NAMES  # kafka-python names the kits take
from ..redact import Secrets, reveal
from ._base import ClientSettings, Servers

__all__ = ["LibrdkafkaSettings"]


def _option(name: str, default: Any, *aliases: str, **constraints: Any) -> Any:
    """A librdkafka property: given to librdkafka as `name`, accepted under every spelling
    the kits accept (its aliases, `_` for `.`, the kafka-python name)."""
    names = (name, *aliases)
    spellings = [
        *names,
        *(n.replace(".", "_") for n in names),
        *(old for old, new in KAFKA_PYTHON_NAMES.items() if new in names),
    ]
    return Field(
        default,
        validation_alias=AliasChoices(*dict.fromkeys(spellings)),
        serialization_alias=name,
        **constraints,
    )


def _any_case(value: object) -> object:
    """librdkafka reads its choices in any case (`SASL_SSL` is `sasl_ssl`)."""
    return value.lower() if isinstance(value, str) else value


_ANY_CASE = BeforeValidator(_any_case)


class Flags:
    """A comma-separated list of some of `choices` (librdkafka's "CSV flags")."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def __call__(self, value: str) -> str:
        unknown = [f for f in (f.strip() for f in value.split(",")) if f not in self.choices]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not one of {', '.join(self.choices)}")
        return value


def _flags(*choices: str) -> AfterValidator:
    return AfterValidator(Flags(*choices))


#: librdkafka's consumer properties: a producer ignores them (with a warning).
_CONSUMER = (
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "check.crcs",
    "consume.callback.max.messages",
    "consume_cb",
    "coordinator.query.interval.ms",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "fetch.error.backoff.ms",
    "fetch.max.bytes",
    "fetch.message.max.bytes",
    "fetch.min.bytes",
    "fetch.queue.backoff.ms",
    "fetch.wait.max.ms",
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.protocol.type",
    "group.remote.assignor",
    "heartbeat.interval.ms",
    "isolation.level",
    "max.partition.fetch.bytes",
    "max.poll.interval.ms",
    "max.poll.records",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "offset_commit_cb",
    "partition.assignment.strategy",
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "rebalance_cb",
    "session.timeout.ms",
    "share.acknowledgement.mode",
)
#: Deprecated by librdkafka: no longer used, or for brokers older than 0.10.
_DEPRECATED = (
    "api.version.fallback.ms",
    "api.version.request",
    "broker.version.fallback",
    "produce.offset.report",
    "queuing.strategy",
    "reconnect.backoff.jitter.ms",
    "socket.blocking.max.ms",
    "ssl.engine.location",
    "topic.metadata.refresh.fast.cnt",
)


def _both_spellings(names: tuple[str, ...], reason: str) -> dict[str, str]:
    return {spelling: reason for name in names for spelling in (name, name.replace(".", "_"))}


class LibrdkafkaSettings(ClientSettings):
    """`kafka:` for `client: confluent` (`Producer`) and `client: confluent-aio`
    (`AIOProducer`)."""

    CLIENT: ClassVar[str] = "librdkafka"
    CODE_ONLY: ClassVar[frozenset[str]] = frozenset(
        {
            "background_event_cb",
            "closesocket_cb",
            "connect_cb",
            "default_topic_conf",
            "dr_cb",
            "dr_msg_cb",
            "error_cb",
            "interceptors",
            "log_cb",
            "msg_order_cmp",
            "oauthbearer_token_refresh_cb",
            "opaque",
            "open_cb",
            "partitioner_cb",
            "resolve_cb",
            "socket_cb",
            "ssl.certificate.verify_cb",
            "ssl_ca",
            "ssl_certificate",
            "ssl_engine_callback_data",
            "ssl_key",
            "stats_cb",
            "throttle_cb",
            "on_delivery",
            "oauth_cb",
            "logger",
        }
    )
    """librdkafka's callbacks and pointers, and confluent-kafka's Python-level options."""
    REFUSED: ClassVar[dict[str, str]] = {
        **_both_spellings(_CONSUMER, "a consumer property: a producer ignores it"),
        **_both_spellings(_DEPRECATED, "deprecated by librdkafka"),
        **_both_spellings(
            ("transactional.id",), "assigned per producer by the kit: set transactional_id_prefix"
        ),
        "enabled_events": "for librdkafka's C event API, which confluent-kafka drives itself",
    }

    client: Literal["confluent", "confluent-aio"] = "confluent"
    builtin_features: str | None = _option("builtin.features", None)  # None: this build's
    client_id: str = _option("client.id", "rdkafka")
    bootstrap_servers: Servers = _option("bootstrap.servers", ..., "metadata.broker.list")
    message_max_bytes: int = _option("message.max.bytes", 1_000_000, ge=1_000, le=1_000_000_000)
    message_copy_max_bytes: int = _option("message.copy.max.bytes", 65_535, ge=0, le=1_000_000_000)
    receive_message_max_bytes: int = _option(
        "receive.message.max.bytes", 100_000_000, ge=1_000, le=2_147_483_647
    )
    max_in_flight_requests_per_connection: int = _option(
        "max.in.flight.requests.per.connection", 1_000_000, "max.in.flight", ge=1, le=1_000_000
    )
    metadata_recovery_strategy: Annotated[Literal["none", "rebootstrap"], _ANY_CASE] = _option(
        "metadata.recovery.strategy", "rebootstrap"
    )
    metadata_recovery_rebootstrap_trigger_ms: int = _option(
        "metadata.recovery.rebootstrap.trigger.ms", 300_000, ge=0, le=2_147_483_647
    )
    topic_metadata_refresh_interval_ms: int = _option(
        "topic.metadata.refresh.interval.ms", 300_000, ge=-1, le=3_600_000
    )
    metadata_max_age_ms: int = _option("metadata.max.age.ms", 900_000, ge=1, le=86_400_000)
    topic_metadata_refresh_fast_interval_ms: int = _option(
        "topic.metadata.refresh.fast.interval.ms", 100, ge=1, le=60_000
    )
    topic_metadata_refresh_sparse: bool = _option("topic.metadata.refresh.sparse", True)
    topic_metadata_propagation_max_ms: int = _option(
        "topic.metadata.propagation.max.ms", 30_000, ge=0, le=3_600_000
    )
    topic_blacklist: str | None = _option("topic.blacklist", None)
    debug: (
        Annotated[
            str,
            _flags(
                "generic",
                "broker",
                "topic",
                "metadata",
                "feature",
                "queue",
                "msg",
                "protocol",
                "cgrp",
                "security",
                "fetch",
                "interceptor",
                "plugin",
                "consumer",
                "admin",
                "eos",
                "mock",
                "assignor",
                "conf",
                "telemetry",
                "all",
            ),
        ]
        | None
    ) = _option("debug", None)
    socket_timeout_ms: int = _option("socket.timeout.ms", 60_000, ge=10, le=300_000)
    socket_send_buffer_bytes: int = _option("socket.send.buffer.bytes", 0, ge=0, le=100_000_000)
    socket_receive_buffer_bytes: int = _option(
        "socket.receive.buffer.bytes", 0, ge=0, le=100_000_000
    )
    socket_keepalive_enable: bool = _option("socket.keepalive.enable", False)
    socket_nagle_disable: bool = _option("socket.nagle.disable", True)
    socket_max_fails: int = _option("socket.max.fails", 1, ge=0, le=1_000_000)
    broker_address_ttl: int = _option("broker.address.ttl", 1_000, ge=0, le=86_400_000)
    broker_address_family: Annotated[Literal["any", "v4", "v6"], _ANY_CASE] = _option(
        "broker.address.family", "any"
    )
    socket_connection_setup_timeout_ms: int = _option(
        "socket.connection.setup.timeout.ms", 30_000, ge=1_000, le=2_147_483_647
    )
    connections_max_idle_ms: int = _option("connections.max.idle.ms", 0, ge=0, le=2_147_483_647)
    reconnect_backoff_ms: int = _option("reconnect.backoff.ms", 100, ge=0, le=3_600_000)
    reconnect_backoff_max_ms: int = _option("reconnect.backoff.max.ms", 10_000, ge=0, le=3_600_000)
    statistics_interval_ms: int = _option("statistics.interval.ms", 0, ge=0, le=86_400_000)
    log_level: int = _option("log_level", 6, ge=0, le=7)
    log_queue: bool = _option("log.queue", False)
    log_thread_name: bool = _option("log.thread.name", True)
    enable_random_seed: bool = _option("enable.random.seed", True)
    log_connection_close: bool = _option("log.connection.close", True)
    internal_termination_signal: int = _option("internal.termination.signal", 0, ge=0, le=128)
    api_version_request_timeout_ms: int = _option(
        "api.version.request.timeout.ms", 10_000, ge=1, le=300_000
    )
    allow_auto_create_topics: bool = _option("allow.auto.create.topics", False)
    security_protocol: Annotated[
        Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"], _ANY_CASE
    ] = _option("security.protocol", "plaintext")
    ssl_cipher_suites: str | None = _option("ssl.cipher.suites", None)
    ssl_curves_list: str | None = _option("ssl.curves.list", None)
    ssl_sigalgs_list: str | None = _option("ssl.sigalgs.list", None)
    ssl_key_location: str | None = _option("ssl.key.location", None)
    ssl_key_password: SecretStr | None = _option("ssl.key.password", None)
    ssl_key_pem: SecretStr | None = _option("ssl.key.pem", None)
    ssl_certificate_location: str | None = _option("ssl.certificate.location", None)
    ssl_certificate_pem: SecretStr | None = _option("ssl.certificate.pem", None)
    ssl_ca_location: str | None = _option("ssl.ca.location", None)
    https_ca_location: str | None = _option("https.ca.location", None)
    https_ca_pem: SecretStr | None = _option("https.ca.pem", None)
    ssl_ca_pem: SecretStr | None = _option("ssl.ca.pem", None)
    ssl_ca_certificate_stores: str = _option("ssl.ca.certificate.stores", "Root")
    ssl_crl_location: str | None = _option("ssl.crl.location", None)
    ssl_keystore_location: str | None = _option("ssl.keystore.location", None)
    ssl_keystore_password: SecretStr | None = _option("ssl.keystore.password", None)
    ssl_providers: str | None = _option("ssl.providers", None)
    ssl_engine_id: str = _option("ssl.engine.id", "dynamic")
    enable_ssl_certificate_verification: bool = _option("enable.ssl.certificate.verification", True)
    ssl_endpoint_identification_algorithm: Annotated[Literal["none", "https"], _ANY_CASE] = _option(
        "ssl.endpoint.identification.algorithm", "https"
    )
    sasl_mechanism: Literal["GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = (
        _option("sasl.mechanism", "GSSAPI", "sasl.mechanisms")
    )
    sasl_kerberos_service_name: str = _option("sasl.kerberos.service.name", "kafka")
    sasl_kerberos_principal: str = _option("sasl.kerberos.principal", "kafkaclient")
    sasl_kerberos_kinit_cmd: str = _option(
        "sasl.kerberos.kinit.cmd",
        'kinit -R -t "%{sasl.kerberos.keytab}" -k %{sasl.kerberos.principal}',
    )
    sasl_kerberos_keytab: str | None = _option("sasl.kerberos.keytab", None)
    sasl_kerberos_min_time_before_relogin: int = _option(
        "sasl.kerberos.min.time.before.relogin", 60_000, ge=0, le=86_400_000
    )
    sasl_username: str | None = _option("sasl.username", None)
    sasl_password: SecretStr | None = _option("sasl.password", None)
    sasl_oauthbearer_config: SecretStr | None = _option("sasl.oauthbearer.config", None)
    enable_sasl_oauthbearer_unsecure_jwt: bool = _option(
        "enable.sasl.oauthbearer.unsecure.jwt", False
    )
    sasl_oauthbearer_method: Annotated[Literal["default", "oidc"], _ANY_CASE] = _option(
        "sasl.oauthbearer.method", "default"
    )
    sasl_oauthbearer_client_id: SecretStr | None = _option(
        "sasl.oauthbearer.client.id", None, "sasl.oauthbearer.client.credentials.client.id"
    )
    sasl_oauthbearer_client_secret: SecretStr | None = _option(
        "sasl.oauthbearer.client.secret", None, "sasl.oauthbearer.client.credentials.client.secret"
    )
    sasl_oauthbearer_scope: str | None = _option("sasl.oauthbearer.scope", None)
    sasl_oauthbearer_extensions: str | None = _option("sasl.oauthbearer.extensions", None)
    sasl_oauthbearer_token_endpoint_url: SecretStr | None = _option(
        "sasl.oauthbearer.token.endpoint.url", None
    )
    sasl_oauthbearer_sub_claim_name: str = _option("sasl.oauthbearer.sub.claim.name", "sub")
    sasl_oauthbearer_grant_type: Annotated[
        Literal["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"], _ANY_CASE
    ] = _option("sasl.oauthbearer.grant.type", "client_credentials")
    sasl_oauthbearer_assertion_algorithm: Literal["RS256", "ES256"] = _option(
        "sasl.oauthbearer.assertion.algorithm", "RS256"
    )
    sasl_oauthbearer_assertion_private_key_file: SecretStr | None = _option(
        "sasl.oauthbearer.assertion.private.key.file", None
    )
    sasl_oauthbearer_assertion_private_key_passphrase: SecretStr | None = _option(
        "sasl.oauthbearer.assertion.private.key.passphrase", None
    )
    sasl_oauthbearer_assertion_private_key_pem: SecretStr | None = _option(
        "sasl.oauthbearer.assertion.private.key.pem", None
    )
    sasl_oauthbearer_assertion_file: str | None = _option("sasl.oauthbearer.assertion.file", None)
    sasl_oauthbearer_assertion_claim_aud: str | None = _option(
        "sasl.oauthbearer.assertion.claim.aud", None
    )
    sasl_oauthbearer_assertion_claim_exp_seconds: int = _option(
        "sasl.oauthbearer.assertion.claim.exp.seconds", 300, ge=1, le=2_147_483_647
    )
    sasl_oauthbearer_assertion_claim_iss: str | None = _option(
        "sasl.oauthbearer.assertion.claim.iss", None
    )
    sasl_oauthbearer_assertion_claim_jti_include: bool = _option(
        "sasl.oauthbearer.assertion.claim.jti.include", False
    )
    sasl_oauthbearer_assertion_claim_nbf_seconds: int = _option(
        "sasl.oauthbearer.assertion.claim.nbf.seconds", 60, ge=0, le=2_147_483_647
    )
    sasl_oauthbearer_assertion_claim_sub: str | None = _option(
        "sasl.oauthbearer.assertion.claim.sub", None
    )
    sasl_oauthbearer_assertion_jwt_template_file: str | None = _option(
        "sasl.oauthbearer.assertion.jwt.template.file", None
    )
    sasl_oauthbearer_metadata_authentication_type: Annotated[
        Literal["none", "azure_imds", "aws_iam"], _ANY_CASE
    ] = _option("sasl.oauthbearer.metadata.authentication.type", "none")
    plugin_library_paths: str | None = _option("plugin.library.paths", None)
    client_rack: str | None = _option("client.rack", None)
    transaction_timeout_ms: int = _option(
        "transaction.timeout.ms", 60_000, ge=1_000, le=2_147_483_647
    )
    enable_idempotence: bool = _option("enable.idempotence", False)
    enable_gapless_guarantee: bool = _option("enable.gapless.guarantee", False)
    queue_buffering_max_messages: int = _option(
        "queue.buffering.max.messages", 100_000, ge=0, le=2_147_483_647
    )
    queue_buffering_max_kbytes: int = _option(
        "queue.buffering.max.kbytes", 1_048_576, ge=1, le=2_147_483_647
    )
    linger_ms: float = _option("linger.ms", 5.0, "queue.buffering.max.ms", ge=0, le=900_000)
    retries: int = _option(
        "retries", 2_147_483_647, "message.send.max.retries", ge=0, le=2_147_483_647
    )
    retry_backoff_ms: int = _option("retry.backoff.ms", 100, ge=1, le=300_000)
    retry_backoff_max_ms: int = _option("retry.backoff.max.ms", 1_000, ge=1, le=300_000)
    queue_buffering_backpressure_threshold: int = _option(
        "queue.buffering.backpressure.threshold", 1, ge=1, le=1_000_000
    )
    compression_type: Annotated[Literal["none", "gzip", "snappy", "lz4", "zstd"], _ANY_CASE] = (
        _option("compression.type", "none", "compression.codec")
    )
    batch_num_messages: int = _option("batch.num.messages", 10_000, ge=1, le=1_000_000)
    batch_size: int = _option("batch.size", 1_000_000, ge=1, le=2_147_483_647)
    delivery_report_only_error: bool = _option("delivery.report.only.error", False)
    sticky_partitioning_linger_ms: int = _option(
        "sticky.partitioning.linger.ms", 10, ge=0, le=900_000
    )
    client_dns_lookup: Annotated[
        Literal["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"], _ANY_CASE
    ] = _option("client.dns.lookup", "use_all_dns_ips")
    enable_metrics_push: bool = _option("enable.metrics.push", True)
    acks: Annotated[int, Field(ge=-1, le=1000)] | Literal["all"] = _option(
        "acks", -1, "request.required.acks"
    )
    request_timeout_ms: int = _option("request.timeout.ms", 30_000, ge=1, le=900_000)
    delivery_timeout_ms: int = _option(
        "delivery.timeout.ms", 300_000, "message.timeout.ms", ge=0, le=2_147_483_647
    )
    partitioner: Literal[
        "random",
        "consistent",
        "consistent_random",
        "murmur2",
        "murmur2_random",
        "fnv1a",
        "fnv1a_random",
    ] = _option("partitioner", "consistent_random")
    compression_level: int = _option("compression.level", -1, ge=-1, le=12)

    @model_validator(mode="wrap")
    @classmethod
    def _as_librdkafka_would(
        cls, data: Any, handler: ModelWrapValidatorHandler[LibrdkafkaSettings]
    ) -> LibrdkafkaSettings:
        """librdkafka's own checks, by librdkafka: a `Producer` built from the options with
        no broker (nothing connects), then dropped (2.5 ms). Its complaint names a property;
        the error names the key as the file spelt it."""
        settings = handler(data)
        from confluent_kafka import KafkaException, Producer

        options = reveal(settings.client_options())
        options.pop("bootstrap.servers", None)
        try:
            Producer({**options, "logger": _SILENT})
        except (KafkaException, TypeError, ValueError) as exc:
            complaint = exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)
            complaint = Secrets(options).scrub(
                complaint.removeprefix("Failed to create producer: ")
            )
            key = _named_key(complaint, data if isinstance(data, dict) else {})
            raise ValueError(f"{key}: librdkafka refuses it: {complaint}") from None
        return settings

    def client_options(self) -> dict[str, Any]:
        options = super().client_options()
        servers = options["bootstrap.servers"]
        if not isinstance(servers, str):  # librdkafka takes one comma-separated string
            options["bootstrap.servers"] = ",".join(servers)
        return options


class _Silent:
    """The probe's logger: what librdkafka says of a producer with no broker is noise."""

    def log(self, *args: object) -> None:
        pass


_SILENT = _Silent()
_NAME = re.compile(r"[a-z_][a-z0-9_.]*[a-z0-9]")


def _named_key(complaint: str, data: dict[str, Any]) -> str:
    """The key of the file a librdkafka complaint is about: the first property it names
    that the file set (under any spelling), or else the first property it names."""
    spellings = LibrdkafkaSettings.spellings()
    named = [spellings[n] for n in _NAME.findall(complaint) if n in spellings]
    by_field = {spellings[k]: k for k in data if isinstance(k, str) and k in spellings}
    for field_name in named:
        if field_name in by_field:
            return by_field[field_name]
    return LibrdkafkaSettings.option_name(named[0]) if named else "these settings"
