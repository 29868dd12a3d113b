"""Restarts and crashes: every acknowledged record survives."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def read_partition(bootstrap, topic, timeout=30):
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, "enable.partition.eof": True}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = consumer.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            raise AssertionError(m.error())
        out[m.offset()] = m.value()
    consumer.close()
    return out


def test_restart_keeps_everything(make_broker, tmp_path):
    broker = make_broker()
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 2})
    for i in range(20_000):
        p.produce("persist", value=f"v{i}".encode())
        p.poll(0)
    assert p.flush(30) == 0
    assert broker.stop() == 0, broker.log()
    assert "stopped cleanly" in broker.log()
    broker.start()
    got = read_partition(broker.bootstrap, "persist")
    assert got == {i: f"v{i}".encode() for i in range(20_000)}


@pytest.mark.parametrize("flush", ["never", "always"])
def test_kill_9_loses_no_acknowledged_record(make_broker, flush):
    broker = make_broker(extra=["--set", f"log.flush={flush}"])
    acked = {}

    def report(err, msg):
        if err is None:
            acked[msg.offset()] = msg.value()

    p = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 1,
            "message.timeout.ms": 5000,
            "retries": 0,
        }
    )
    i = 0
    killed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            p.produce("crash", value=f"value-{i}".encode(), on_delivery=report)
            i += 1
        except BufferError:
            pass
        p.poll(0)
        if not killed and len(acked) >= 20_000:
            broker.kill()
            killed = True
            break
    assert killed, "the producer never reached 20,000 acknowledged records"
    p.flush(10)  # outstanding requests fail now; only acks before the kill count
    broker.start()
    stored = read_partition(broker.bootstrap, "crash")
    missing = [o for o, v in acked.items() if stored.get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. offset {missing[0]}"
