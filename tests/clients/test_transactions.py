"""Transactions with confluent-kafka (librdkafka): commit and abort, read_committed
consumers, consume-transform-produce with send_offsets_to_transaction, fencing,
timeouts of abandoned transactions, and open transactions across restarts."""

import subprocess
import sys
import textwrap
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from conftest import partition_values


def txn_producer(bootstrap, txn_id, **extra):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, **extra})
    p.init_transactions(30)
    return p


def create(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=b"-")
    assert p.flush(10) == 0


def test_read_committed_sees_only_committed(broker):
    p = txn_producer(broker.bootstrap, "t-commit-abort")
    p.begin_transaction()
    for i in range(10):
        p.produce("txn", value=f"commit-{i}".encode())
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(10):
        p.produce("txn", value=f"abort-{i}".encode())
    p.flush(10)
    p.abort_transaction(30)
    committed = [f"commit-{i}".encode() for i in range(10)]
    aborted = [f"abort-{i}".encode() for i in range(10)]
    assert partition_values(broker.bootstrap, "txn", "read_committed") == committed
    assert partition_values(broker.bootstrap, "txn", "read_uncommitted") == committed + aborted


def test_send_offsets_moves_committed_offsets_only_on_commit(broker):
    src = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        src.produce("ctp-in", value=f"in-{i}".encode())
    assert src.flush(10) == 0
    create(broker.bootstrap, "ctp-out")

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "ctp",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    tp = TopicPartition("ctp-in", 0, 0)
    consumer.assign([tp])
    p = txn_producer(broker.bootstrap, "t-ctp")

    def transform(n):
        p.begin_transaction()
        got = 0
        while got < n:
            m = consumer.poll(1.0)
            if m is None or m.error():
                continue
            p.produce("ctp-out", value=m.value().upper())
            got += 1
        positions = consumer.position([TopicPartition("ctp-in", 0)])
        p.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)

    def committed():
        return consumer.committed([TopicPartition("ctp-in", 0)], timeout=10)[0].offset

    transform(4)
    p.abort_transaction(30)
    assert committed() < 0, "an aborted transaction commits no offset"
    consumer.seek(TopicPartition("ctp-in", 0, 0))
    transform(10)
    p.commit_transaction(30)
    assert committed() == 10
    consumer.close()
    out = partition_values(broker.bootstrap, "ctp-out", "read_committed")
    assert out == [b"-"] + [f"IN-{i}".encode() for i in range(10)]


def test_a_second_producer_fences_the_first(broker):
    first = txn_producer(broker.bootstrap, "t-fence")
    first.begin_transaction()
    first.produce("fence", value=b"zombie")
    first.flush(10)
    second = txn_producer(broker.bootstrap, "t-fence")
    with pytest.raises(KafkaException) as e:
        first.commit_transaction(30)
    assert e.value.args[0].fatal(), e.value
    second.begin_transaction()
    second.produce("fence", value=b"live")
    second.commit_transaction(30)
    assert partition_values(broker.bootstrap, "fence", "read_committed") == [b"live"]


def test_a_killed_producers_transaction_is_aborted_after_its_timeout(make_broker):
    broker = make_broker(
        extra=["--set", "transaction.abort_timed_out_transaction_cleanup_interval_ms=200"]
    )
    script = textwrap.dedent(
        f"""
        import time
        from confluent_kafka import Producer
        p = Producer({{"bootstrap.servers": "{broker.bootstrap}",
                      "transactional.id": "t-abandoned", "transaction.timeout.ms": 2000}})
        p.init_transactions(30)
        p.begin_transaction()
        for i in range(5):
            p.produce("abandoned", value=b"lost-%d" % i)
        p.flush(10)
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"
    finally:
        child.kill()
        child.wait()
    after = Producer({"bootstrap.servers": broker.bootstrap})
    after.produce("abandoned", value=b"after")
    assert after.flush(10) == 0
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        seen = partition_values(broker.bootstrap, "abandoned", "read_committed", timeout=5)
        if seen:
            break
        time.sleep(0.5)
    assert seen == [b"after"]
    assert len(partition_values(broker.bootstrap, "abandoned", "read_uncommitted")) == 6


@pytest.mark.parametrize("restart", ["kill", "stop"])
@pytest.mark.parametrize("outcome", ["commit", "abort"])
def test_an_open_transaction_survives_a_broker_restart(broker, restart, outcome):
    p = txn_producer(broker.bootstrap, f"t-restart-{restart}-{outcome}")
    p.begin_transaction()
    for i in range(5):
        p.produce("restart", value=f"r-{i}".encode())
    assert p.flush(10) == 0
    if restart == "kill":
        broker.kill()
    else:
        assert broker.stop() == 0, broker.log()
    broker.start()
    if outcome == "commit":
        p.commit_transaction(60)
        want = [f"r-{i}".encode() for i in range(5)]
    else:
        p.abort_transaction(60)
        want = []
    assert partition_values(broker.bootstrap, "restart", "read_committed") == want
    assert len(partition_values(broker.bootstrap, "restart", "read_uncommitted")) == 5
