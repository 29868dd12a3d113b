"""Retention and DeleteRecords with confluent-kafka: AdminClient.delete_records
moves the earliest offset, and a consumer whose position fell below the log
start resets per auto.offset.reset=earliest after retention deleted segments."""

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


@pytest.fixture
def fast_broker(make_broker):
    return make_broker(extra=["--set", "log.retention_check_interval_ms=50"])


def create(admin, topic, config):
    fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=config)])
    fs[topic].result(10)


def produce(broker, topic, values, timestamp=None):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for v in values:
        if timestamp is None:
            p.produce(topic, value=v, key=v)
        else:
            p.produce(topic, value=v, key=v, timestamp=timestamp)
        p.poll(0)
        p.flush(10)  # one batch per message: one segment per batch below
    assert p.flush(10) == 0


def watermarks(broker, topic):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def test_delete_records_moves_the_low_watermark(fast_broker):
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    create(admin, "dr", {"segment.bytes": "200"})
    produce(fast_broker, "dr", [b"v%d" % i for i in range(10)])
    assert watermarks(fast_broker, "dr") == (0, 10)

    fs = admin.delete_records([TopicPartition("dr", 0, 4)])
    deleted = fs[TopicPartition("dr", 0, 4)].result(10)
    assert deleted.low_watermark == 4
    assert watermarks(fast_broker, "dr") == (4, 10)

    # OFFSET_END (-1) is the high watermark.
    fs = admin.delete_records([TopicPartition("dr", 0, -1)])
    assert list(fs.values())[0].result(10).low_watermark == 10
    assert watermarks(fast_broker, "dr") == (10, 10)

    # The low watermark survives a restart.
    fast_broker.stop()
    fast_broker.start()
    assert watermarks(fast_broker, "dr") == (10, 10)


def test_consumer_below_the_log_start_resets_to_earliest(fast_broker):
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    create(admin, "rt", {"segment.bytes": "200", "retention.ms": "60000"})
    old = int(time.time() * 1000) - 3_600_000
    produce(fast_broker, "rt", [b"old%d" % i for i in range(6)], timestamp=old)
    produce(fast_broker, "rt", [b"new0", b"new1"])

    deadline = time.monotonic() + 10
    while watermarks(fast_broker, "rt")[0] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    low, high = watermarks(fast_broker, "rt")
    assert (low, high) == (6, 8)

    c = Consumer(
        {
            "bootstrap.servers": fast_broker.bootstrap,
            "group.id": "reset",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        # Start at an offset retention deleted: OFFSET_OUT_OF_RANGE, then reset.
        c.assign([TopicPartition("rt", 0, 1)])
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
        assert got == [(6, b"new0"), (7, b"new1")]
    finally:
        c.close()
