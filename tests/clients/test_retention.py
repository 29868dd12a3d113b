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


def read_all(broker, topic):
    """Every (offset, key, value) of partition 0 from the start."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            raise AssertionError(m.error())
        out.append((m.offset(), m.key(), m.value()))
    c.close()
    return out


def test_kill_during_cleaning_loses_nothing(make_broker):
    """Many versions per key on a compacted topic with tiny segments and a busy
    cleaner; kill -9 the broker again and again while it cleans. After each
    restart the log reads back whole: offsets increase, and every key's latest
    acknowledged value is there."""
    broker = make_broker(extra=["--set", "log.cleaner_backoff_ms=20"])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(
        admin,
        "crashy",
        {"cleanup.policy": "compact", "segment.bytes": "2000", "min.cleanable.dirty.ratio": "0.01"},
    )
    latest = {}
    for round_ in range(4):
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1, "acks": "all"})
        acked = {}

        def on_delivery(err, msg):
            if err is None:
                acked[msg.key()] = msg.value()

        for i in range(600):
            key = b"k%d" % (i % 40)
            p.produce("crashy", key=key, value=b"r%d-%d" % (round_, i), on_delivery=on_delivery)
            p.poll(0)
        assert p.flush(30) == 0
        latest.update(acked)
        time.sleep(0.05 * (round_ + 1))  # let the cleaner get going
        broker.kill()
        broker.start()
        rows = read_all(broker, "crashy")
        offsets = [o for o, _, _ in rows]
        assert offsets == sorted(set(offsets)), "offsets strictly increase"
        last = {}
        for _, k, v in rows:
            last[k] = v
        assert last == latest, f"round {round_}: the latest acknowledged value of every key"
    # The cleaner did run between the kills: far fewer records than were sent.
    assert len(rows) < 4 * 600 / 2, len(rows)
