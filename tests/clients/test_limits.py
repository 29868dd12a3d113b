"""Client quotas enforced on confluent-kafka clients, and thousands of idle
connections that cost the broker little."""

import re
import resource
import socket
import struct
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

QUOTA = 500_000  # bytes per second
# Batches and fetches of at most this size, so that the seconds measured hold
# many of them.
CHUNK = 100_000
# How long a quota test runs: past the client's second burst (see quota_rate).
RUN_SECONDS = 15


def alter_client_quota(bootstrap, entity, key, value):
    """AlterClientQuotas v0, encoded by hand (kafka-python and confluent-kafka
    have no client quota API): sets `key` to `value` on `entity`, a list of
    (type, name or None)."""

    def string(s):
        b = s.encode()
        return struct.pack(">h", len(b)) + b

    def nullable(s):
        return struct.pack(">h", -1) if s is None else string(s)

    body = struct.pack(">i", 1) + struct.pack(">i", len(entity))
    for kind, name in entity:
        body += string(kind) + nullable(name)
    body += struct.pack(">i", 1) + string(key) + struct.pack(">d", value) + b"\x00"
    body += b"\x00"  # validate_only
    request = struct.pack(">hhi", 49, 0, 7) + nullable("test") + body
    host, port = bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exactly(s, 4))[0]
        response = recv_exactly(s, size)
    # correlation id, throttle_time_ms, entries count, then the entry's error code
    correlation, _, count, error = struct.unpack(">iiih", response[:14])
    assert (correlation, count, error) == (7, 1, 0), response


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1)])[topic].result(10)


def metric(broker, name):
    text = urllib.request.urlopen(f"http://{broker.http_listen}/metrics", timeout=5).read().decode()
    found = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return sum(float(v) for v in found)


def quota_rate(samples):
    """A greedy client's rate over one quota period, from (time, total bytes)
    samples. As in Kafka, the rate is taken over the quota window (11 samples
    of 1 s, never less than 10 s), so a new client sends ten seconds' worth at
    once, then waits until that sample expires and does the same again: its
    rate is the bytes from the end of its first burst to the end of its second,
    over that time."""
    step, quiet = 0.25, 2.0
    ends = []
    previous = samples[0]
    for t, total in samples:
        if t - previous[0] < step:
            continue
        if (total - previous[1]) / (t - previous[0]) > 2 * QUOTA:
            # A burst continues unless it was quiet for a while.
            if ends and t - ends[-1][0] < quiet:
                ends[-1] = (t, total)
            else:
                ends.append((t, total))
        previous = (t, total)
    assert len(ends) >= 2, f"fewer than two bursts: {ends}"
    (t1, b1), (t2, b2) = ends[:2]
    return (b2 - b1) / (t2 - t1)


@pytest.mark.timeout(120)
def test_producer_is_throttled_to_its_byte_rate_quota(broker):
    create_topic(broker.bootstrap, "quota-p")
    alter_client_quota(
        broker.bootstrap, [("client-id", "limited")], "producer_byte_rate", QUOTA
    )
    throttles = []
    p = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "client.id": "limited",
            "linger.ms": 5,
            "batch.size": CHUNK,
            "throttle_cb": lambda e: throttles.append(e.throttle_time),
        }
    )
    value = b"x" * 1000
    delivered = [0]

    def on_delivery(err, msg):
        if err is None:
            delivered[0] += len(msg.value())

    samples = [(0.0, 0)]
    start = time.monotonic()
    while (now := time.monotonic() - start) < RUN_SECONDS:
        try:
            p.produce("quota-p", value, on_delivery=on_delivery)
        except BufferError:
            p.poll(0.05)
        p.poll(0)
        samples.append((now, delivered[0]))
    rate = quota_rate(samples)
    print(f"{rate:.0f} B/s against a quota of {QUOTA}, throttled up to {max(throttles, default=0):.1f} s")
    assert QUOTA * 0.8 <= rate <= QUOTA * 1.2, f"{rate:.0f} B/s against a quota of {QUOTA}"
    assert throttles and max(throttles) > 0, "throttle_time_ms reached the client"
    assert metric(broker, "runnel_throttled_requests_total") > 0
    p.flush(30)


@pytest.mark.timeout(120)
def test_consumer_is_throttled_to_its_byte_rate_quota(broker):
    create_topic(broker.bootstrap, "quota-c")
    # Small batches: a fetch returns whole batches, so they set its size.
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.size": CHUNK})
    value = b"y" * 1000
    for _ in range(16_000):
        while True:
            try:
                p.produce("quota-c", value)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(30) == 0
    alter_client_quota(
        broker.bootstrap, [("client-id", "slow")], "consumer_byte_rate", QUOTA
    )
    throttles = []
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "client.id": "slow",
            "group.id": "quota",
            "max.partition.fetch.bytes": CHUNK,
            "enable.auto.commit": False,
            "throttle_cb": lambda e: throttles.append(e.throttle_time),
        }
    )
    c.assign([TopicPartition("quota-c", 0, 0)])
    received = 0
    samples = [(0.0, 0)]
    start = time.monotonic()
    while (now := time.monotonic() - start) < RUN_SECONDS:
        m = c.poll(0.05)
        if m is not None and m.error() is None:
            received += len(m.value())
        samples.append((now, received))
    c.close()
    assert received < 16_000_000, "the consumer did not read everything at once"
    rate = quota_rate(samples)
    print(f"{rate:.0f} B/s against a quota of {QUOTA}, throttled up to {max(throttles, default=0):.1f} s")
    assert QUOTA * 0.8 <= rate <= QUOTA * 1.2, f"{rate:.0f} B/s against a quota of {QUOTA}"
    assert throttles and max(throttles) > 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def produce_rate(bootstrap, topic, seconds=4):
    """Messages per second a confluent-kafka producer gets acknowledged."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1})
    value = b"z" * 200
    done = [0]

    def on_delivery(err, _msg):
        if err is None:
            done[0] += 1

    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            p.produce(topic, value, on_delivery=on_delivery)
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.flush(30)
    return done[0] / (time.monotonic() - start)


IDLE = 2000


@pytest.mark.timeout(180)
def test_thousands_of_idle_connections_cost_little(broker):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
        pytest.skip(f"the hard open files limit ({hard}) is below {IDLE + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE + 200), hard))
    assert "open files limit" in broker.log()
    create_topic(broker.bootstrap, "busy")
    produce_rate(broker.bootstrap, "busy", seconds=2)  # warm up
    alone = produce_rate(broker.bootstrap, "busy")
    before = rss_kib(broker.proc.pid)

    host, port = broker.bootstrap.split(":")
    api_versions = struct.pack(">ihhih", 10, 18, 0, 1, -1)
    idle = []
    for _ in range(IDLE):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(api_versions)  # one request each: the broker really serves them
        idle.append(s)
    for s in idle:
        size = struct.unpack(">i", recv_exactly(s, 4))[0]
        recv_exactly(s, size)
    time.sleep(0.5)
    with_idle = rss_kib(broker.proc.pid)
    crowded = produce_rate(broker.bootstrap, "busy")
    after = rss_kib(broker.proc.pid)
    for s in idle:
        s.close()

    per_connection = (with_idle - before) * 1024 / IDLE
    print(
        f"produce {alone:.0f} msg/s alone, {crowded:.0f} msg/s with {IDLE} idle connections; "
        f"RSS {before} KiB -> {with_idle} KiB idle ({per_connection:.0f} B each) -> {after} KiB"
    )
    assert per_connection < 32 * 1024, f"{per_connection:.0f} bytes per idle connection"
    assert after < before + 128 * 1024, f"RSS grew from {before} KiB to {after} KiB"
    assert crowded >= alone * 0.5, f"{crowded:.0f} msg/s against {alone:.0f} alone"
