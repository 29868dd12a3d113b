"""The HTTP listener with real clients: health, and metrics that follow what
clients do (bytes in, consumer group lag)."""

import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition


def get(broker, path):
    with urllib.request.urlopen(f"http://{broker.http_listen}{path}", timeout=5) as r:
        return r.status, r.read().decode()


def test_health_and_group_lag(broker):
    assert get(broker, "/health") == (200, "ok\n")
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce("lagging", value=f"v{i}".encode())
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "slow"})
    c.commit(offsets=[TopicPartition("lagging", 0, 4)], asynchronous=False)
    c.close()
    status, text = get(broker, "/metrics")
    assert status == 200
    assert 'runnel_produced_records_total{topic="lagging"} 10' in text
    assert 'runnel_group_lag{group="slow",topic="lagging",partition="0"} 6' in text
    assert 'runnel_group_members{group="slow"} 0' in text
