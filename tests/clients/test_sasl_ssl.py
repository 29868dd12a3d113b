"""SASL_SSL with real clients: SCRAM-SHA-512 over TLS for confluent-kafka and
kafka-python, and ACLs on the authenticated users. A super user grants a
second user READ on one topic: that user consumes it and is refused WRITE
with TOPIC_AUTHORIZATION_FAILED, and a third user with no ACLs can do
neither. Users are created offline in the data dir before the broker starts."""

import uuid

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from kafka import KafkaConsumer, KafkaProducer

from conftest import free_port
from test_sasl import runnel
from test_tls import pki  # noqa: F401  (the module's certificates fixture)

PASSWORDS = {"admin": "admin-secret", "reader": "reader-secret", "nobody": "nobody-secret"}


@pytest.fixture
def broker(make_broker, pki, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    for user, password in PASSWORDS.items():
        secret = tmp_path / f"{user}.pw"
        secret.write_text(password + "\n")
        runnel("user", "add", user, "--password-file", str(secret), "--data-dir", str(data))
    port = free_port()
    return make_broker(port=port, data_dir=data, extra=[
        "--set", f"listen=SASL_SSL://127.0.0.1:{port}",
        "--set", f"ssl.keystore_location={pki / 'broker.keystore.pem'}",
        "--set", "authorizer.enabled=true",
        "--set", "authorizer.super_users=User:admin",
    ])


def conf(broker, pki, user, **extra):  # noqa: F811
    return {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(pki / "ca.crt"),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": PASSWORDS[user],
        **extra,
    }


def produce(settings, topic, count):
    p = Producer(settings)
    errors = []
    for i in range(count):
        p.produce(topic, f"m{i}".encode(), on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0
    return errors


def consume(settings, topic, count):
    c = Consumer({"group.id": "readers", "enable.auto.commit": False, **settings})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    try:
        while len(got) < count:
            m = c.poll(10)
            assert m is not None, f"only {len(got)} of {count} records came back"
            if m.error():
                raise KafkaException(m.error())
            got.append(m.value())
    finally:
        c.close()
    return got


def test_scram_sha_512_over_tls_with_confluent_kafka_and_kafka_python(broker, pki):  # noqa: F811
    topic = f"t-{uuid.uuid4().hex[:8]}"
    assert produce(conf(broker, pki, "admin"), topic, 10) == []
    assert consume(conf(broker, pki, "admin"), topic, 10) == [f"m{i}".encode() for i in range(10)]

    python_settings = dict(
        bootstrap_servers=broker.bootstrap, security_protocol="SASL_SSL",
        ssl_cafile=str(pki / "ca.crt"), sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="admin", sasl_plain_password=PASSWORDS["admin"])
    producer = KafkaProducer(**python_settings)
    for i in range(10, 20):
        producer.send(topic, f"m{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000,
                             **python_settings)
    got = [m.value for m in consumer][:20]
    consumer.close()
    assert got == [f"m{i}".encode() for i in range(20)]


def test_a_reader_consumes_and_may_not_produce(broker, pki):  # noqa: F811
    topic = f"t-{uuid.uuid4().hex[:8]}"
    assert produce(conf(broker, pki, "admin"), topic, 5) == []
    admin = AdminClient(conf(broker, pki, "admin"))
    bindings = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                   "User:reader", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "readers", ResourcePatternType.LITERAL,
                   "User:reader", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for future in admin.create_acls(bindings).values():
        future.result(10)

    assert consume(conf(broker, pki, "reader"), topic, 5) == [f"m{i}".encode() for i in range(5)]
    errors = produce(conf(broker, pki, "reader", **{"message.timeout.ms": 10000}), topic, 1)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]

    # A user no ACL names can neither read nor write the topic (its consumer
    # is refused at its group's coordinator first, or at the topic).
    with pytest.raises(KafkaException) as refused:
        consume(conf(broker, pki, "nobody"), topic, 1)
    assert refused.value.args[0].code() in (
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    )
    errors = produce(conf(broker, pki, "nobody", **{"message.timeout.ms": 10000}), topic, 1)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
