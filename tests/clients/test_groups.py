"""Consumer groups with real clients: assignment across members, takeover when a
member leaves or goes silent, committed offsets that survive restarts."""

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KTopicPartition

# Fast rebalances and a short minimum session timeout so eviction is quick.
GROUP_ARGS = ["--log-level", os.environ.get("TEST_LOG", "info"),
    "--set", "group.initial_rebalance_delay_ms=0",
    "--set", "group.min_session_timeout_ms=500",
]


@pytest.fixture
def gbroker(make_broker):
    return make_broker(extra=GROUP_ARGS)


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def produce(bootstrap, topic, partitions, per_partition, prefix):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    sent = set()
    for part in range(partitions):
        for i in range(per_partition):
            v = f"{prefix}-{part}-{i}"
            p.produce(topic, value=v.encode(), partition=part)
            sent.add(v)
    assert p.flush(30) == 0
    return sent


def wait_until(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class PythonMember(threading.Thread):
    """A kafka-python group member polling in its own thread."""

    def __init__(self, bootstrap, group, topic, **config):
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            heartbeat_interval_ms=200,
            session_timeout_ms=3000,
            **config,
        )
        self.consumer.subscribe([topic])
        self.records = []
        self.assigned = set()
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self.stop_flag.is_set():
            batches = self.consumer.poll(timeout_ms=100)
            # KafkaConsumer is not thread-safe: only this thread touches it.
            assigned = {tp.partition for tp in self.consumer.assignment()}
            with self.lock:
                self.assigned = assigned
                for tp, msgs in batches.items():
                    self.records.extend((tp.partition, m.value.decode()) for m in msgs)

    def assignment(self):
        with self.lock:
            return set(self.assigned)

    def values(self):
        with self.lock:
            return [v for _, v in self.records]

    def stop_and_commit(self):
        """Stop polling and commit what was consumed (the group stays as it is)."""
        self.stop_flag.set()
        self.join(10)
        self.consumer.commit()

    def finish(self):
        self.stop_and_commit()
        self.consumer.close()


def three_members_share_six_partitions(bootstrap, group):
    members = [PythonMember(bootstrap, group, "g6") for _ in range(3)]
    for m in members:
        m.start()
    try:
        wait_until(
            lambda: sorted(len(m.assignment()) for m in members) == [2, 2, 2]
            and set().union(*(m.assignment() for m in members)) == set(range(6)),
            what="two partitions each",
        )
    except AssertionError:
        for m in members:
            m.stop_flag.set()
            m.join(10)
            m.consumer.close()
        raise
    return members


def test_three_kafka_python_members_share_six_partitions(make_broker):
    # Kafka's initial rebalance delay, short: kafka-python 3.0.12 joins before
    # its first metadata answer arrives, and a leader without the topic's
    # partitions assigns nothing and rebalances again at once; now and then it
    # never finishes that second join (SyncGroup answered, assignment never
    # applied, its poll loop spinning). The delay lets the metadata arrive first.
    gbroker = make_broker(extra=GROUP_ARGS + ["--set", "group.initial_rebalance_delay_ms=500"])
    create_topic(gbroker.bootstrap, "g6", 6)
    try:
        members = three_members_share_six_partitions(gbroker.bootstrap, "three")
    except AssertionError:
        # kafka-python 3.0.12 now and then stalls one member right after a
        # rebalance: it sends nothing more, not even heartbeats, and is evicted.
        # One more try, in a fresh group, before calling it a failure.
        members = three_members_share_six_partitions(gbroker.bootstrap, "three-again")
    group = members[0].consumer.config["group_id"]
    sent = produce(gbroker.bootstrap, "g6", 6, 100, "a")
    wait_until(lambda: sum(len(m.values()) for m in members) >= len(sent), what="all messages")
    time.sleep(0.5)
    got = [v for m in members for v in m.values()]
    assert sorted(got) == sorted(sent), "every message exactly once"
    for m in members:
        parts = {p for p, _ in m.records}
        assert parts <= m.assignment()
    # Every member commits before any leaves: a member that commits after a
    # rebalance no longer owns (and cannot commit) what it consumed before it.
    for m in members:
        m.stop_and_commit()
    for m in members:
        m.consumer.close()

    more = produce(gbroker.bootstrap, "g6", 6, 10, "b")
    late = PythonMember(gbroker.bootstrap, group, "g6")
    late.start()
    wait_until(lambda: len(late.values()) >= len(more), what="the new member's messages")
    time.sleep(0.5)
    assert sorted(late.values()) == sorted(more), "resumes after the committed offsets"
    late.finish()


def confluent_member(bootstrap, group, strategy):
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 3000,
            "heartbeat.interval.ms": 200,
        }
    )


def poll_all(consumers, want, timeout=30):
    """Polls every consumer in turn until `want` values arrived in total."""
    got = {id(c): [] for c in consumers}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < want and time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.05)
            if m is not None and not m.error():
                got[id(c)].append(m.value().decode())
    return [got[id(c)] for c in consumers]


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_confluent_members_split_then_take_over(gbroker, strategy):
    topic = f"split-{strategy}"
    create_topic(gbroker.bootstrap, topic, 6)
    a = confluent_member(gbroker.bootstrap, f"g-{strategy}", strategy)
    b = confluent_member(gbroker.bootstrap, f"g-{strategy}", strategy)
    a.subscribe([topic])
    b.subscribe([topic])

    def balanced():
        poll_all([a, b], 1, timeout=0.2)
        pa = {tp.partition for tp in a.assignment()}
        pb = {tp.partition for tp in b.assignment()}
        return len(pa) == 3 and len(pb) == 3 and pa | pb == set(range(6))

    wait_until(balanced, what=f"{strategy}: three partitions each")
    sent = produce(gbroker.bootstrap, topic, 6, 50, "x")
    got_a, got_b = poll_all([a, b], len(sent))
    assert sorted(got_a + got_b) == sorted(sent)
    assert got_a and got_b
    a.commit(asynchronous=False)
    b.commit(asynchronous=False)

    # b leaves: a takes over its partitions and continues from b's commits.
    b.close()
    wait_until(
        lambda: poll_all([a], 1, timeout=0.1) == [[]] and len(a.assignment()) == 6,
        what="a to own every partition",
    )
    later = produce(gbroker.bootstrap, topic, 6, 20, "y")
    (got,) = poll_all([a], len(later))
    time.sleep(0.3)
    (extra,) = poll_all([a], 1, timeout=0.5)
    assert sorted(got + extra) == sorted(later)
    assert {tp.partition for tp in a.assignment()} == set(range(6))
    a.close()


SILENT_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": 1500, "heartbeat.interval.ms": 200})
c.subscribe([sys.argv[3]])
while not c.assignment():
    c.poll(0.1)
print("assigned", flush=True)
while True:
    c.poll(0.1)
"""


def test_silent_member_is_evicted_after_session_timeout(gbroker):
    create_topic(gbroker.bootstrap, "evict", 4)
    silent = subprocess.Popen(
        [sys.executable, "-c", SILENT_MEMBER, gbroker.bootstrap, "evict-g", "evict"],
        stdout=subprocess.PIPE,
    )
    try:
        assert silent.stdout.readline().strip() == b"assigned"
        survivor = confluent_member(gbroker.bootstrap, "evict-g", "range")
        survivor.subscribe(["evict"])
        wait_until(
            lambda: poll_all([survivor], 1, timeout=0.1) is not None
            and len(survivor.assignment()) == 2,
            what="the partitions split in two",
        )
        # SIGKILL: no LeaveGroup, no more heartbeats.
        silent.kill()
        silent.wait()
        started = time.monotonic()
        wait_until(
            lambda: poll_all([survivor], 1, timeout=0.1) is not None
            and len(survivor.assignment()) == 4,
            what="the survivor to get every partition",
        )
        # Eviction waits for the session timeout (1.5 s), not longer than a few.
        assert time.monotonic() - started < 15
        survivor.close()
    finally:
        silent.kill()


def test_aiokafka_group(gbroker):
    """Two aiokafka members split four partitions; when one leaves, the other
    takes over and continues from its commits."""
    from aiokafka import AIOKafkaConsumer

    create_topic(gbroker.bootstrap, "aio-g", 4)

    async def run():
        def member():
            return AIOKafkaConsumer(
                "aio-g",
                bootstrap_servers=gbroker.bootstrap,
                group_id="aio-group",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                heartbeat_interval_ms=200,
                session_timeout_ms=3000,
            )

        a, b = member(), member()
        await a.start()
        await b.start()
        got = {id(a): [], id(b): []}

        async def poll(c, ms=100):
            batches = await c.getmany(timeout_ms=ms)
            for msgs in batches.values():
                got[id(c)].extend(m.value.decode() for m in msgs)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.gather(poll(a), poll(b))
            if len(a.assignment()) == 2 and len(b.assignment()) == 2:
                break
        split = (len(a.assignment()), len(b.assignment()))
        sent = produce(gbroker.bootstrap, "aio-g", 4, 25, "z")
        while sum(len(v) for v in got.values()) < len(sent) and time.monotonic() < deadline:
            await asyncio.gather(poll(a), poll(b))
        first = got[id(a)] + got[id(b)]
        await a.commit()
        await b.commit()
        await b.stop()
        while len(a.assignment()) < 4 and time.monotonic() < deadline + 30:
            await poll(a)
        got[id(a)].clear()
        later = produce(gbroker.bootstrap, "aio-g", 4, 5, "w")
        while len(got[id(a)]) < len(later) and time.monotonic() < deadline + 30:
            await poll(a)
        await poll(a, 300)
        await a.stop()
        return split, sent, first, later, got[id(a)]

    split, sent, first, later, after = asyncio.run(run())
    assert split == (2, 2)
    assert sorted(first) == sorted(sent)
    assert sorted(after) == sorted(later), "a took over b's partitions after b's commits"


def committed_offsets(bootstrap, group, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    c.close()
    return {tp.partition: (tp.offset, tp.metadata) for tp in tps}


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_committed_offsets_survive_restart(gbroker, stop):
    create_topic(gbroker.bootstrap, "durable-g", 3)
    c = Consumer({"bootstrap.servers": gbroker.bootstrap, "group.id": "keep"})
    offsets = [
        TopicPartition("durable-g", p, 10 * (p + 1), metadata="note" if p == 1 else "")
        for p in range(3)
    ]
    c.commit(offsets=offsets, asynchronous=False)
    c.close()
    before = committed_offsets(gbroker.bootstrap, "keep", "durable-g", 3)
    assert before == {0: (10, ""), 1: (20, "note"), 2: (30, "")}
    if stop == "sigterm":
        assert gbroker.stop() == 0
    else:
        gbroker.kill()
    gbroker.start()
    assert committed_offsets(gbroker.bootstrap, "keep", "durable-g", 3) == before
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    listed = admin.list_consumer_groups().result(10).valid
    assert "keep" in {g.group_id for g in listed}


def test_consumer_group_protocol_kip848(make_broker):
    """librdkafka's group.protocol=consumer: the broker assigns (uniform), hands
    partitions over when a member leaves, and keeps committed offsets."""
    broker = make_broker(extra=[*GROUP_ARGS, "--set", "group.consumer_heartbeat_interval_ms=300"])
    create_topic(broker.bootstrap, "k848", 4)

    def member():
        c = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "g848",
                "group.protocol": "consumer",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        c.subscribe(["k848"])
        return c

    a, b = member(), member()

    def split():
        poll_all([a, b], 1, timeout=0.1)
        pa = {tp.partition for tp in a.assignment()}
        pb = {tp.partition for tp in b.assignment()}
        return len(pa) == 2 and len(pb) == 2 and pa | pb == set(range(4))

    wait_until(split, what="two partitions each")
    sent = produce(broker.bootstrap, "k848", 4, 50, "n")
    got_a, got_b = poll_all([a, b], len(sent))
    assert sorted(got_a + got_b) == sorted(sent)
    a.commit(asynchronous=False)
    b.commit(asynchronous=False)
    a.close()
    wait_until(
        lambda: poll_all([b], 1, timeout=0.1) is not None and len(b.assignment()) == 4,
        what="b to take over a's partitions",
    )
    committed = b.committed([TopicPartition("k848", p) for p in range(4)], timeout=10)
    assert [tp.offset for tp in committed] == [50, 50, 50, 50]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = admin.list_consumer_groups().result(10).valid
    assert "g848" in {g.group_id for g in listed}
    b.close()
