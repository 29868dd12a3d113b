"""The web console's JSON API with a real HTTP client (urllib), against the
release binary filled by kafka-python."""

import json
import urllib.error
import urllib.request

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata


def call(broker, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://{broker.http_listen}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


BINARY = bytes([0x00, 0x9F, 0x92, 0x96, 0xFF])


def fill(broker, topic="events"):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    p.send(topic, key=b"j", value=json.dumps({"user": "ada", "n": 1}).encode(), partition=0)
    p.send(topic, key=b"b", value=BINARY, partition=0, headers=[("trace", b"abc")])
    p.send(topic, value=b"x" * 10_000, partition=0)
    p.flush(10)
    p.close()


def test_topics_and_records_through_the_api(broker):
    fill(broker)
    status, topics = call(broker, "GET", "/api/topics")
    assert status == 200
    events = next(t for t in topics if t["name"] == "events")
    assert events["records"] == 3
    assert events["log_end_offsets"] == [3]

    status, page = call(broker, "GET", "/api/topics/events/records?partition=0&offset=0&limit=10")
    assert status == 200
    values = [r["value"] for r in page["records"]]
    assert json.loads(values[0]["data"]) == {"user": "ada", "n": 1}
    assert values[1] == {"encoding": "base64", "data": "AJ+Slv8=", "size": 5, "truncated": False}
    assert page["records"][1]["headers"] == [
        {"key": "trace", "value": {"encoding": "text", "data": "abc", "size": 3, "truncated": False}}
    ]
    assert values[2]["truncated"] and values[2]["size"] == 10_000

    with urllib.request.urlopen(
        f"http://{broker.http_listen}/api/topics/events/partitions/0/records/2/value", timeout=10
    ) as r:
        assert r.read() == b"x" * 10_000

    status, newest = call(broker, "GET", "/api/topics/events/records?limit=1")
    assert [r["offset"] for r in newest["records"]] == [2]


def test_create_configure_produce_and_delete(broker):
    status, created = call(
        broker, "POST", "/api/topics", {"name": "made", "partitions": 2, "configs": {"cleanup.policy": "compact"}}
    )
    assert status == 201, created
    assert created["cleanup_policy"] == "compact"
    status, err = call(broker, "POST", "/api/topics", {"name": "no/slash"})
    assert status == 400 and err["error"] == "INVALID_TOPIC_EXCEPTION"

    status, detail = call(broker, "PATCH", "/api/topics/made/configs", {"set": {"retention.ms": "1000"}})
    assert status == 200, detail
    retention = next(c for c in detail["configs"] if c["name"] == "retention.ms")
    assert retention == {"name": "retention.ms", "value": "1000", "source": "DYNAMIC_TOPIC_CONFIG", "read_only": False}

    # A compacted topic refuses a record without a key, as Produce does.
    status, err = call(broker, "POST", "/api/topics/made/records", {"value": "v"})
    assert status == 400 and err["error"] == "INVALID_RECORD", err
    status, produced = call(broker, "POST", "/api/topics/made/records", {"partition": 1, "key": "k", "value": "v"})
    assert status == 201 and produced == {"partition": 1, "offset": 0}

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=5000)
    c.assign([TopicPartition("made", 1)])
    c.seek_to_beginning()
    got = [(m.key, m.value) for m in c]
    c.close()
    assert got == [(b"k", b"v")]

    status, _ = call(broker, "DELETE", "/api/topics/made")
    assert status == 204
    status, err = call(broker, "GET", "/api/topics/made")
    assert status == 404 and err["error"] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_group_lag_and_reset(broker):
    fill(broker)
    c = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id="readers", enable_auto_commit=False
    )
    c.commit({TopicPartition("events", 0): OffsetAndMetadata(1, "", -1)})
    c.close()
    status, groups = call(broker, "GET", "/api/groups")
    assert status == 200
    readers = next(g for g in groups if g["group_id"] == "readers")
    assert readers["total_lag"] == 2 and readers["members"] == 0

    status, group = call(broker, "POST", "/api/groups/readers/reset-offsets", {"to": "earliest"})
    assert status == 200, group
    assert group["offsets"][0]["committed_offset"] == 0
    assert group["total_lag"] == 3


def test_read_only_mode(make_broker):
    ro = make_broker(extra=["--set", "console.read_only=true"])
    status, err = call(ro, "POST", "/api/topics", {"name": "nope"})
    assert status == 403 and err["error"] == "READ_ONLY"
    assert call(ro, "GET", "/api/overview")[1]["read_only"] is True


def test_open_transaction_and_its_producer_are_shown(broker):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "console-txn"})
    p.init_transactions(10)
    p.begin_transaction()
    for i in range(3):
        p.produce("txn-shown", value=f"v{i}".encode(), partition=0)
    p.flush(10)

    status, t = call(broker, "GET", "/api/transactions")
    assert status == 200
    [txn] = [x for x in t["transactions"] if x["transactional_id"] == "console-txn"]
    assert txn["state"] == "Ongoing" and txn["partitions"] == ["txn-shown-0"], txn
    assert txn["start_time_ms"] > 0
    [producer] = [x for x in t["producers"] if x["topic"] == "txn-shown"]
    assert producer["producer_id"] == txn["producer_id"]
    assert producer["current_txn_start_offset"] == 0 and producer["last_sequence"] == 2, producer
    with urllib.request.urlopen(f"http://{broker.http_listen}/transactions", timeout=10) as r:
        page = r.read().decode()
    assert "console-txn" in page and "Ongoing" in page

    p.commit_transaction(10)
    status, t = call(broker, "GET", "/api/transactions")
    [txn] = [x for x in t["transactions"] if x["transactional_id"] == "console-txn"]
    assert txn["state"] == "CompleteCommit" and txn["partitions"] == [] and txn["start_time_ms"] == -1, txn
    [producer] = [x for x in t["producers"] if x["topic"] == "txn-shown"]
    assert producer["current_txn_start_offset"] is None
