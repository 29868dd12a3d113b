"""Logging: JSON lines with --log-format json, one line per connection error
naming the peer, and no per-request lines at info level."""

import json
import socket
import struct

from kafka import KafkaConsumer, KafkaProducer


def test_json_logs_name_the_peer_of_a_bad_connection(make_broker):
    broker = make_broker(extra=["--log-format", "json"])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(50):
        producer.send("logged", f"v{i}".encode())
    producer.flush(10)
    producer.close()
    consumer = KafkaConsumer(
        "logged",
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    assert len(list(consumer)) == 50
    consumer.close()

    # A frame whose API key does not exist: the broker closes the connection.
    with socket.create_connection(("127.0.0.1", broker.port)) as s:
        body = struct.pack(">hhih", 999, 0, 1, -1)
        s.sendall(struct.pack(">i", len(body)) + body)
        s.settimeout(5)
        assert s.recv(1) == b""
        peer = "%s:%d" % s.getsockname()
    assert broker.stop() == 0

    lines = [l for l in broker.log_path.read_text().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "fields"} <= r.keys() for r in records)
    errors = [r for r in records if r["fields"].get("peer") == peer]
    assert len(errors) == 1, errors
    assert errors[0]["level"] == "WARN"
    assert "closing connection" in errors[0]["fields"]["message"]
    # Serving 50 records to two clients logged nothing per request.
    assert len(records) < 15, lines
