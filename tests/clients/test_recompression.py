"""compression.type: the broker stores batches with the topic's codec, and
every client reads what it recompressed."""

import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

CODECS = ["uncompressed", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_clients_read_batches_the_broker_recompressed(broker, codec):
    topic = f"recompressed-{codec}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": codec})])[topic].result(10)
    values = []
    for sent in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": sent, "linger.ms": 5})
        batch = [f"{sent}-{i}-" + "x" * (i % 50) for i in range(200)]
        for v in batch:
            p.produce(topic, v.encode())
        assert p.flush(10) == 0
        values += batch

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < len(values):
        m = c.poll(10)
        assert m is not None and not m.error(), m and m.error()
        got.append(m.value().decode())
    c.close()
    assert got == values

    k = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    assert [m.value.decode() for m in k] == values
    k.close()

    out = subprocess.run(
        ["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-e", "-q", "-f", "%s\n"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert out.splitlines() == values
