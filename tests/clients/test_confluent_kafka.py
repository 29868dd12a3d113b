"""confluent-kafka (librdkafka): compression codecs, keys, headers, nulls, big messages."""

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

COUNT = 100_000


def consume_all(bootstrap, topic, expected, partition=0, timeout=60):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused",  # required by the client; no group APIs are used with assign()
            "enable.auto.commit": False,
            "fetch.message.max.bytes": 2_000_000,
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    out = []
    import time

    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=10_000, timeout=1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(m.error())
            out.append(m)
    consumer.close()
    return out


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_codec_round_trip(broker, codec):
    topic = f"cc-{codec}"
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "compression.codec": codec,
            "linger.ms": 5,
            "message.max.bytes": 1_000_000,
            "acks": "all",
        }
    )
    sent = []
    failures = []

    def report(err, msg):
        if err:
            failures.append(err)

    big = bytes(range(256)) * 3600  # 921,600 bytes
    for i in range(COUNT):
        if i % 1000 == 7:
            key, value, headers = None, None, None  # null key and value
        elif i == 500:
            key, value, headers = b"big", big, [("size", b"900KB")]
        else:
            key, value, headers = f"key-{i}".encode(), f"value-{i}-{'x' * (i % 50)}".encode(), [("i", str(i).encode()), ("dup", b"a"), ("dup", b"b")]
        sent.append((key, value, headers))
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not failures, failures[:3]

    got = consume_all(broker.bootstrap, topic, COUNT)
    assert len(got) == COUNT
    for i, (m, (key, value, headers)) in enumerate(zip(got, sent)):
        assert m.offset() == i
        assert m.key() == key and m.value() == value, i
        assert (m.headers() or None) == headers, i


def test_unknown_partition_is_reported(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    errors = []
    producer.produce("cc-part", value=b"x", partition=0, on_delivery=lambda e, m: errors.append(e))
    producer.flush(10)
    assert errors == [None]
    # The client knows the partition count from Metadata and refuses at once.
    with pytest.raises(KafkaException) as err:
        producer.produce("cc-part", value=b"x", partition=5)
    assert err.value.args[0].code() == KafkaError._UNKNOWN_PARTITION


def test_idempotent_producer(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 2})
    for i in range(10_000):
        producer.produce("cc-idem", value=b"%d" % i)
        producer.poll(0)
    assert producer.flush(30) == 0
    got = consume_all(broker.bootstrap, "cc-idem", 10_000)
    assert [m.value() for m in got] == [b"%d" % i for i in range(10_000)]
