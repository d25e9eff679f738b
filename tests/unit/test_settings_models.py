"""Each kit's settings model against the client installed: the same option names, the same
defaults, the same choices and ranges. A client upgrade that adds, drops or changes an
option fails here, naming it, until the model follows."""

from __future__ import annotations

import importlib.util
import inspect
import typing

import annotated_types
import pytest
from pydantic import SecretStr, ValidationError

from producer_pool.clients import KITS, settings_model
from producer_pool.clients.redact import is_secret
from producer_pool.clients.settings import ClientSettings
from producer_pool.clients.settings.aiokafka import SSL_FILES, AIOKafkaSettings
from producer_pool.clients.settings.kafka_python import KafkaPythonSettings
from producer_pool.clients.settings.librdkafka import LibrdkafkaSettings

MODELS = [KafkaPythonSettings, LibrdkafkaSettings, AIOKafkaSettings]


def client_fields(model: type[ClientSettings]) -> dict[str, str]:
    """The model's fields for the client's options (not the kit's), by the client's name."""
    return {
        model.option_name(name): name
        for name in model.model_fields
        if name not in model.KIT_OPTIONS
    }


def choices(model: type[ClientSettings], field_name: str) -> set[object]:
    """The values of a field's `Literal`, None aside."""
    found: set[object] = set()
    pending = [model.model_fields[field_name].annotation]
    while pending:
        annotation = pending.pop()
        if typing.get_origin(annotation) is typing.Literal:
            found.update(typing.get_args(annotation))
        else:
            pending.extend(typing.get_args(annotation))
    return found


def bounds(model: type[ClientSettings], field_name: str) -> tuple[float | None, float | None]:
    metadata = model.model_fields[field_name].metadata
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    return low, high


@pytest.mark.parametrize("name", sorted(KITS))
def test_every_kit_names_its_model(name):
    model = settings_model(name)
    assert issubclass(model, ClientSettings)
    assert name in choices(model, "client")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_no_two_options_share_a_spelling(model):
    pairs = [
        (spelling, name)
        for name in model.model_fields
        for spelling in [model.option_name(name), *model.other_spellings(name)]
    ]
    spelt = [spelling for spelling, _ in pairs]
    assert len(spelt) == len(set(spelt))
    assert not set(spelt) & (set(model.REFUSED) | model.CODE_ONLY)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_secret_option_is_a_secret_under_every_spelling(model):
    """The config reader wraps a secret-looking key's value in `SecretStr`: its field must
    take one (and never print it)."""
    for name, field in model.model_fields.items():
        spellings = [model.option_name(name), *model.other_spellings(name)]
        secret = SecretStr in typing.get_args(field.annotation) or field.annotation is SecretStr
        assert secret == any(is_secret(s) for s in spellings), (name, spellings)


# ---------------------------------------------------------------------- kafka-python


def test_kafka_python_model_has_kafka_pythons_options_and_defaults():
    from producer_pool.clients import _quiet_kafka  # noqa: F401 # isort: skip
    from kafka import KafkaProducer

    known = KafkaProducer.DEFAULT_CONFIG
    model = KafkaPythonSettings
    fields = client_fields(model)
    refused_known = set(model.REFUSED) & set(known)
    assert set(fields) == set(known) - model.CODE_ONLY - refused_known - {"bootstrap_timeout_ms"}
    assert set(known) >= model.CODE_ONLY
    assert refused_known == {"transactional_id", "socks5_proxy"}
    for option, field_name in fields.items():
        field = model.model_fields[field_name]
        if field.is_required():
            continue
        assert field.default == known[option], option


def test_kafka_python_model_offers_kafka_pythons_choices():
    from producer_pool.clients import _quiet_kafka  # noqa: F401 # isort: skip
    from kafka import KafkaProducer
    from kafka.net.manager import KafkaConnectionManager
    from kafka.net.sasl import SASL_MECHANISMS

    model = KafkaPythonSettings
    assert choices(model, "compression_type") == set(KafkaProducer._COMPRESSORS) - {None}
    assert choices(model, "sasl_mechanism") == set(SASL_MECHANISMS)
    assert choices(model, "client_dns_lookup") == set(
        KafkaConnectionManager._VALID_DNS_LOOKUP_MODES
    )


# ---------------------------------------------------------------------- aiokafka


def test_aiokafka_model_has_aiokafkas_options_and_defaults():
    from aiokafka import AIOKafkaProducer

    parameters = inspect.signature(AIOKafkaProducer.__init__).parameters
    known = {name: p.default for name, p in parameters.items() if name != "self"}
    model = AIOKafkaSettings
    fields = client_fields(model)
    assert set(fields) - set(SSL_FILES) == set(known) - model.CODE_ONLY - set(model.REFUSED)
    assert set(known) >= model.CODE_ONLY
    assert set(model.REFUSED) & set(known) == {"transactional_id", "api_version"}
    for option, field_name in fields.items():
        field = model.model_fields[field_name]
        if field.is_required() or option in SSL_FILES:
            continue
        expected = None if option == "acks" else known[option]  # acks: a sentinel
        assert field.default == expected, option
    assert choices(model, "compression_type") == set(AIOKafkaProducer._COMPRESSORS)


def test_aiokafka_tls_files_become_its_ssl_context(tmp_path):
    import ssl

    settings = AIOKafkaSettings.model_validate(
        {"bootstrap_servers": "kafka:9093", "security_protocol": "SSL"}
    )
    assert isinstance(settings.producer_options()["ssl_context"], ssl.SSLContext)
    missing = str(tmp_path / "ca.pem")
    with pytest.raises(ValidationError, match="no such file"):
        AIOKafkaSettings.model_validate(
            {"bootstrap_servers": "k:1", "security_protocol": "SSL", "ssl_cafile": missing}
        )
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ValidationError, match="ssl_cafile: cannot load the TLS files"):
        AIOKafkaSettings.model_validate(
            {"bootstrap_servers": "k:1", "security_protocol": "SSL", "ssl_cafile": str(bad)}
        )


@pytest.mark.parametrize("model", [KafkaPythonSettings, AIOKafkaSettings])
def test_gssapi_without_its_package_is_refused_when_read(model):
    """Neither client requires the gssapi package: aiokafka's first connection raised an
    AssertionError (a traceback from `check`), kafka-python's bootstrap timed out as
    "cannot reach Kafka", the cause only logged."""
    if importlib.util.find_spec("gssapi") is not None:
        pytest.skip("the gssapi package is installed here")
    options = {"bootstrap_servers": "k:1", "security_protocol": "SASL_PLAINTEXT"}
    with pytest.raises(ValidationError, match=r"sasl_mechanism: GSSAPI needs the gssapi package"):
        model.model_validate({**options, "sasl_mechanism": "GSSAPI"})


# ---------------------------------------------------------------------- librdkafka


@pytest.fixture(scope="module")
def librdkafka():
    from tests.librdkafka_properties import properties

    return properties()


def _producer_properties(librdkafka):
    """librdkafka's producer properties a config file may set, alias -> canonical kept."""
    found = {}
    for prop in librdkafka:
        if prop.scope == "C" or prop.type == "see dedicated API" or prop.deprecated:
            continue
        found.setdefault(prop.name, prop)  # a topic-level duplicate keeps the global one
    return found


def test_librdkafka_model_has_every_producer_property(librdkafka):
    model = LibrdkafkaSettings
    properties = _producer_properties(librdkafka)
    spelt = {s: f for s, f in model.spellings().items() if f not in model.KIT_OPTIONS}
    dotted = {s for s in spelt if s in properties}
    assert dotted == set(properties) - {"transactional.id", "enabled_events"}
    for name, prop in properties.items():
        if prop.alias_of and name in spelt:
            assert spelt[name] == spelt[prop.alias_of], f"{name} is {prop.alias_of}"
    dedicated = {p.name for p in librdkafka if p.type == "see dedicated API" and p.scope != "C"}
    assert dedicated <= model.CODE_ONLY
    consumer = {p.name for p in librdkafka if p.scope == "C"}
    deprecated = {p.name for p in librdkafka if p.deprecated and p.name not in dedicated}
    refused = set(model.REFUSED) & {p.name for p in librdkafka}
    assert refused == (consumer | deprecated | {"transactional.id", "enabled_events"}) - dedicated


def test_librdkafka_model_has_librdkafkas_types_ranges_and_defaults(librdkafka):
    model = LibrdkafkaSettings
    properties = _producer_properties(librdkafka)
    for option, field_name in client_fields(model).items():
        prop = properties[option]
        prop = properties.get(prop.alias_of, prop) if prop.alias_of else prop
        field = model.model_fields[field_name]
        default = None if field.is_required() else field.default
        if prop.type in ("integer", "float") and option != "acks":
            assert bounds(model, field_name) == prop.bounds, option
            assert default == float(prop.default), option
        elif prop.type == "boolean":
            assert field.annotation is bool, option
            assert default == (prop.default == "true"), option
        elif prop.type == "enum value":
            assert choices(model, field_name) == set(prop.choices), option
            assert default == prop.default, option
        elif option not in ("bootstrap.servers", "builtin.features", "acks"):
            assert default == (prop.default or None), option


def test_librdkafka_accepts_every_default_choice_and_bound_of_the_model():
    """librdkafka itself takes what the model allows: each default set explicitly, each
    choice, and each range's ends (a range librdkafka narrowed would fail here)."""
    from confluent_kafka import KafkaException, Producer

    class Silent:
        def log(self, *args):
            pass

    def refused(option, value):
        try:
            Producer({option: value, "logger": Silent()})
        except KafkaException as exc:
            return "Invalid value" in exc.args[0].str()
        except ValueError:  # confluent-kafka's own check of two properties together
            return False
        return False

    model = LibrdkafkaSettings
    for option, field_name in client_fields(model).items():
        field = model.model_fields[field_name]
        if field.is_required() or field.default is None:
            continue
        values = [field.default, *(choices(model, field_name) - {None})]
        values += [b for b in bounds(model, field_name) if b is not None]
        for value in values:
            assert not refused(option, value), (option, value)


def test_librdkafka_refusals_name_the_key_as_the_file_spelt_it():
    def refusal(data):
        with pytest.raises(ValidationError) as caught:
            LibrdkafkaSettings.model_validate({"bootstrap.servers": "k:1", **data})
        return caught.value.errors()[0]["msg"].removeprefix("Value error, ")

    assert refusal({"lingerms": 1}).startswith("lingerms: unknown librdkafka producer option")
    assert refusal({"linger.msec": 1}).endswith("did you mean linger.ms?")
    assert refusal({"linger_ms": 1, "linger.ms": 2}) == (
        "linger.ms: the same option as linger_ms; set one"
    )
    assert refusal({"group.id": "g"}) == "group.id: a consumer property: a producer ignores it"
    assert refusal({"enable.idempotence": True, "acks": 1}).startswith(
        "acks: librdkafka refuses it: `acks` must be set to `all`"
    )
    assert refusal({"security.protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}).startswith(
        "sasl.username: librdkafka refuses it: sasl.username and sasl.password must be set"
    )


def test_the_confluent_kits_pass_the_models_names_through_unchanged():
    """The model gives the kits librdkafka's own names; the kits' translation of
    kafka-python-style names must leave each as it is (`log_level` is no `log.level`)."""
    from producer_pool.clients._librdkafka import librdkafka_config

    names = [LibrdkafkaSettings.option_name(f) for f in client_fields(LibrdkafkaSettings).values()]
    assert list(librdkafka_config(dict.fromkeys(names))) == names
