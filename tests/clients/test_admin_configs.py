"""Topic and broker configs through the admin clients users use: kafka-python's
KafkaAdminClient and confluent-kafka's AdminClient."""

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource as CkResource,
    ConfigSource,
    NewTopic as CkNewTopic,
)
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic


@pytest.fixture
def kp_admin(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    yield admin
    admin.close()


def kp_topic_configs(admin, topic, **kw):
    result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], **kw)
    return result["TOPIC"][topic] if "TOPIC" in result else next(iter(result.values()))[topic]


def value(entry):
    return entry["value"] if isinstance(entry, dict) else entry


def test_kafka_python_describe_and_alter(kp_admin):
    kp_admin.create_topics([NewTopic("kp", 1, 1, topic_configs={"retention.ms": "100000"})])

    everything = kp_topic_configs(kp_admin, "kp", config_filter="all")
    assert value(everything["cleanup.policy"]) == "delete"
    assert value(everything["max.message.bytes"]) == "1048588"
    assert value(everything["segment.bytes"]) == "1073741824"
    assert value(everything["retention.ms"]) == "100000"
    modified = kp_topic_configs(kp_admin, "kp")
    assert set(modified) == {"retention.ms"}

    # Incremental (the client's choice when the broker offers it): SET and APPEND.
    kp_admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                "kp",
                configs={"segment.ms": "3600000", "cleanup.policy": ("APPEND", "compact")},
            )
        ]
    )
    after = kp_topic_configs(kp_admin, "kp", config_filter="all")
    assert value(after["segment.ms"]) == "3600000"
    assert value(after["cleanup.policy"]) == "delete,compact"
    assert value(after["retention.ms"]) == "100000"

    # SUBTRACT and DELETE.
    kp_admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                "kp",
                configs={"cleanup.policy": ("SUBTRACT", "compact"), "retention.ms": ("DELETE", None)},
            )
        ]
    )
    after = kp_topic_configs(kp_admin, "kp", config_filter="all")
    assert value(after["cleanup.policy"]) == "delete"
    assert value(after["retention.ms"]) == "604800000"

    # The legacy AlterConfigs replaces every override; kafka-python sends the
    # other modified keys along (it describes them first), so they stay.
    kp_admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "kp", configs={"retention.bytes": "1000000"})],
        incremental=False,
    )
    after = kp_topic_configs(kp_admin, "kp", config_filter="all")
    assert value(after["retention.bytes"]) == "1000000"
    assert value(after["segment.ms"]) == "3600000"

    broker = kp_admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
    )
    broker = broker["BROKER"]["1"] if "BROKER" in broker else next(iter(broker.values()))["1"]
    assert value(broker["log.segment.bytes"]) == "1073741824"
    assert value(broker["num.partitions"]) == "1"


@pytest.fixture
def ck_admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def ck_describe(admin, topic):
    (future,) = admin.describe_configs([CkResource("TOPIC", topic)]).values()
    return future.result(timeout=10)


def test_confluent_describe_and_alter(broker, ck_admin):
    for f in ck_admin.create_topics([CkNewTopic("ck", 1, 1)]).values():
        f.result(timeout=10)

    configs = ck_describe(ck_admin, "ck")
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].is_default
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["segment.bytes"].value == "1073741824"

    resource = CkResource(
        "TOPIC",
        "ck",
        incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
            ConfigEntry("retention.ms", "5000", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    for f in ck_admin.incremental_alter_configs([resource]).values():
        f.result(timeout=10)
    configs = ck_describe(ck_admin, "ck")
    assert configs["cleanup.policy"].value == "delete,compact"
    assert configs["retention.ms"].value == "5000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not configs["retention.ms"].is_default

    # Compacted now: a record without a key is refused, one with a key is not.
    errors = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    producer.produce("ck", value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    producer.produce("ck", key=b"k", value=b"keyed", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert [e.name() if e else None for e in errors] == ["INVALID_RECORD", None]

    # A bad value names its key and changes nothing.
    bad = CkResource(
        "TOPIC",
        "ck",
        incremental_configs=[
            ConfigEntry("segment.bytes", "lots", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    with pytest.raises(KafkaException) as e:
        for f in ck_admin.incremental_alter_configs([bad]).values():
            f.result(timeout=10)
    assert "segment.bytes" in str(e.value)

    # validate_only changes nothing.
    check = CkResource(
        "TOPIC",
        "ck",
        incremental_configs=[ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)],
    )
    for f in ck_admin.incremental_alter_configs([check], validate_only=True).values():
        f.result(timeout=10)
    assert ck_describe(ck_admin, "ck")["retention.ms"].value == "5000"

    # The legacy AlterConfigs: replace semantics.
    for f in ck_admin.alter_configs([CkResource("TOPIC", "ck", set_config={"segment.ms": "60000"})]).values():
        f.result(timeout=10)
    configs = ck_describe(ck_admin, "ck")
    assert configs["segment.ms"].value == "60000"
    assert configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete"

    (future,) = ck_admin.describe_configs([CkResource("BROKER", "1")]).values()
    broker_configs = future.result(timeout=10)
    assert broker_configs["message.max.bytes"].value == "1048588"
    # Dynamic broker configs can be altered; static settings cannot.
    assert not broker_configs["log.segment.bytes"].is_read_only
    assert broker_configs["node.id"].is_read_only


def test_configs_survive_a_restart(broker, kp_admin):
    kp_admin.create_topics([NewTopic("keep", 1, 1)])
    kp_admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "keep", configs={"retention.ms": "7777"})]
    )
    kp_admin.close()
    broker.stop()
    broker.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        assert value(kp_topic_configs(admin, "keep", config_filter="all")["retention.ms"]) == "7777"
    finally:
        admin.close()


def ck_alter(admin, resource):
    (future,) = admin.incremental_alter_configs([resource]).values()
    future.result(timeout=10)


def test_dynamic_broker_and_group_configs(ck_admin):
    """What librdkafka's 0081-admin test does to the BROKER and GROUP resources."""
    op = AlterConfigOpType

    def broker(*entries, name="1"):
        return CkResource("BROKER", name, incremental_configs=list(entries))

    ck_alter(ck_admin, broker(
        ConfigEntry("background.threads", "9", incremental_operation=op.SET),
        ConfigEntry("log.cleanup.policy", "compact", incremental_operation=op.APPEND),
    ))
    (future,) = ck_admin.describe_configs([CkResource("BROKER", "1")]).values()
    configs = future.result(timeout=10)
    assert configs["background.threads"].value == "9"
    assert configs["background.threads"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert configs["log.cleanup.policy"].value == "delete,compact"
    ck_alter(ck_admin, broker(
        ConfigEntry("background.threads", "", incremental_operation=op.DELETE),
        ConfigEntry("log.cleanup.policy", "compact", incremental_operation=op.SUBTRACT),
    ))
    (future,) = ck_admin.describe_configs([CkResource("BROKER", "1")]).values()
    configs = future.result(timeout=10)
    assert configs["background.threads"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["log.cleanup.policy"].value == "delete"

    with pytest.raises(KafkaException) as refused:
        ck_alter(ck_admin, broker(ConfigEntry("log.dirs", "/x", incremental_operation=op.SET)))
    assert "Cannot update these configs dynamically" in str(refused.value)

    group = CkResource("GROUP", "my-group", incremental_configs=[
        ConfigEntry("consumer.session.timeout.ms", "50000", incremental_operation=op.SET)
    ])
    ck_alter(ck_admin, group)
    (future,) = ck_admin.describe_configs([CkResource("GROUP", "my-group")]).values()
    configs = future.result(timeout=10)
    assert configs["consumer.session.timeout.ms"].value == "50000"
    assert configs["consumer.session.timeout.ms"].source == ConfigSource.GROUP_CONFIG.value
