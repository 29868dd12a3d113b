"""The runnel CLI next to real clients: keys land where kafka-python puts
them, it reads what confluent-kafka produces with every codec, and it shares
a consumer group with a confluent-kafka consumer."""

import signal
import subprocess
import time
import urllib.request

from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from conftest import BIN


def cli(broker, *args, input=None, check=True):
    return subprocess.run(
        [str(BIN), *args, "-b", broker.bootstrap],
        input=input,
        capture_output=True,
        timeout=60,
        check=check,
    )


def test_keys_go_where_kafka_python_would_put_them(broker):
    cli(broker, "topic", "create", "keys", "--partitions", "6")
    lines = "".join(f"key-{i}:value-{i}\n" for i in range(300))
    cli(broker, "produce", "keys", "-k", ":", "-H", "source=cli", input=lines.encode())
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000)
    partitions = [TopicPartition("keys", p) for p in range(6)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen = {}
    for record in consumer:
        seen[record.key.decode()] = record
        if len(seen) == 300:
            break
    consumer.close()
    assert len(seen) == 300
    for key, record in seen.items():
        # kafka-python's DefaultPartitioner: murmur2(key) & 0x7fffffff % n, as Java's.
        assert record.partition == (murmur2(key.encode()) & 0x7FFFFFFF) % 6, key
        assert record.value.decode() == "value-" + key.split("-")[1]
        assert record.headers == [("source", b"cli")]


def test_reads_what_confluent_kafka_produces_with_every_codec(broker):
    for codec in ["gzip", "snappy", "lz4", "zstd"]:
        topic = f"codec-{codec}"
        producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 50})
        for i in range(500):
            producer.produce(topic, key=f"k{i}", value=f"{codec} {i}")
        assert producer.flush(10) == 0
        out = cli(broker, "consume", topic, "-o", "beginning", "-e", "-f", "%o %k %s\\n").stdout.decode()
        assert out.splitlines() == [f"{i} k{i} {codec} {i}" for i in range(500)]


def test_shares_a_group_with_a_confluent_kafka_consumer(broker):
    cli(broker, "topic", "create", "shared", "--partitions", "4")
    member = subprocess.Popen(
        [str(BIN), "consume", "shared", "-g", "mixed", "-o", "beginning", "-f", "%p %s\\n", "-b", broker.bootstrap],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assigned = []
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "mixed",
            "partition.assignment.strategy": "range",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["shared"], on_assign=lambda c, ps: assigned.extend(p.partition for p in ps))
    got = {}
    deadline = time.monotonic() + 30
    produced = False
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            got[msg.value().decode()] = msg.partition()
        if len(assigned) == 2 and not produced:
            described = cli(broker, "group", "describe", "mixed").stdout.decode()
            if "State: Stable" in described and "Members: 2" in described:
                lines = "".join(f"k{i}:v{i}\n" for i in range(40))
                cli(broker, "produce", "shared", "-k", ":", input=lines.encode())
                produced = True
                deadline = time.monotonic() + 3
    # The CLI leaves first, so it never takes over the other member's partitions.
    member.send_signal(signal.SIGTERM)
    out, err = member.communicate(timeout=15)
    consumer.close()
    assert member.returncode == 0, err
    cli_got = {v: int(p) for p, v in (line.split(" ") for line in out.decode().splitlines())}
    assert produced
    assert sorted(assigned) in ([0, 1], [2, 3])
    assert set(got.values()) <= set(assigned)
    assert set(cli_got.values()).isdisjoint(assigned)
    assert set(got) | set(cli_got) == {f"v{i}" for i in range(40)}


def test_txn_commands_show_an_open_transaction_then_its_commit(broker):
    cli(broker, "topic", "create", "txn-out", "--partitions", "2")
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "cli-txn"})
    p.init_transactions(10)
    p.begin_transaction()
    for i in range(5):
        p.produce("txn-out", value=f"v{i}".encode(), partition=1)
    p.flush(10)

    listed = cli(broker, "txn", "list").stdout.decode().splitlines()
    row = [l.split() for l in listed if l.startswith("cli-txn ")]
    assert len(row) == 1 and row[0][2] == "Ongoing", listed
    pid = row[0][1]
    described = cli(broker, "txn", "describe", "cli-txn").stdout.decode()
    assert "State: Ongoing" in described and f"ProducerId: {pid}" in described, described
    assert "txn-out-1" in described, described
    producers = cli(broker, "txn", "producers", "txn-out", "-p", "1").stdout.decode().splitlines()
    # The open transaction starts at offset 0 of partition 1.
    assert [l.split()[0] for l in producers[1:]] == [pid], producers
    assert producers[1].split()[-1] == "0", producers

    with urllib.request.urlopen(f"http://{broker.http_listen}/metrics", timeout=5) as r:
        assert 'runnel_transactions{state="Ongoing"} 1' in r.read().decode()

    p.commit_transaction(10)
    described = cli(broker, "txn", "describe", "cli-txn").stdout.decode()
    assert "State: CompleteCommit" in described, described
    producers = cli(broker, "txn", "producers", "txn-out", "-p", "1").stdout.decode().splitlines()
    assert producers[1].split()[-1] == "-", producers
    missing = cli(broker, "txn", "describe", "no-such-id", check=False)
    assert missing.returncode == 1 and b"TRANSACTIONAL_ID_NOT_FOUND" in missing.stderr, missing.stderr
