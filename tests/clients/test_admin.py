"""The cluster admin APIs through the admin clients users use: confluent-kafka's
AdminClient and kafka-python's KafkaAdminClient (CreatePartitions,
DescribeCluster, DescribeLogDirs, ElectLeaders, ListOffsets), and LogAppendTime
topics read back by a real consumer."""

import time

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    ElectionType,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic as CkNewTopic, OffsetSpec
from kafka.admin import KafkaAdminClient, NewTopic


@pytest.fixture
def ck_admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


@pytest.fixture
def kp_admin(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    yield admin
    admin.close()


def partitions_of(admin, topic):
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def test_confluent_create_partitions_describe_cluster_and_list_offsets(broker, ck_admin):
    ck_admin.create_topics([CkNewTopic("ck-grow", 2, 1)])["ck-grow"].result(10)

    ck_admin.create_partitions([NewPartitions("ck-grow", 5)])["ck-grow"].result(10)
    assert partitions_of(ck_admin, "ck-grow") == 5

    # Shrinking and validate_only, as Kafka answers them.
    with pytest.raises(KafkaException) as e:
        ck_admin.create_partitions([NewPartitions("ck-grow", 3)])["ck-grow"].result(10)
    assert e.value.args[0].name() == "INVALID_PARTITIONS"
    assert "3 would not be an increase" in e.value.args[0].str()
    ck_admin.create_partitions([NewPartitions("ck-grow", 8)], validate_only=True)["ck-grow"].result(10)
    assert partitions_of(ck_admin, "ck-grow") == 5

    # The new partitions take records at once.
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for p in range(5):
        producer.produce("ck-grow", value=b"v", partition=p)
    assert producer.flush(10) == 0
    offsets = ck_admin.list_offsets(
        {TopicPartition("ck-grow", p): OffsetSpec.latest() for p in range(5)}
    )
    assert sorted(f.result(10).offset for f in offsets.values()) == [1] * 5

    cluster = ck_admin.describe_cluster(request_timeout=10).result(10)
    assert cluster.cluster_id
    assert cluster.controller.id == 1
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, "127.0.0.1", broker.port)]

    # Every partition already has its preferred leader.
    result = ck_admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("ck-grow", 0)]).result(10)
    error = result[TopicPartition("ck-grow", 0)]
    assert error is not None and error.name() == "ELECTION_NOT_NEEDED"


def test_kafka_python_create_partitions_and_describe_log_dirs(broker, kp_admin):
    kp_admin.create_topics([NewTopic("kp-grow", 1, 1)])
    kp_admin.create_partitions({"kp-grow": 3})
    described = kp_admin.describe_topics(["kp-grow"])
    assert len(described[0]["partitions"]) == 3

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("kp-grow", value=b"x" * 1000, partition=2)
    assert producer.flush(10) == 0

    dirs = kp_admin.describe_log_dirs()
    assert [d["broker"] for d in dirs] == [1]
    (log_dir,) = dirs[0]["log_dirs"]
    assert log_dir["error_code"] == 0
    assert log_dir["log_dir"] == str(broker.data_dir.resolve())
    topic = next(t for t in log_dir["topics"] if t["name"] == "kp-grow")
    sizes = {p["partition_index"]: p["partition_size"] for p in topic["partitions"]}
    assert sizes[0] == 0 and sizes[1] == 0 and sizes[2] > 1000

    cluster = kp_admin.describe_cluster()
    assert cluster["controller_id"] == 1
    assert [b["port"] for b in cluster["brokers"]] == [broker.port]

    assert kp_admin.list_partition_reassignments() == {}


def test_log_append_time_topic_gives_consumers_the_broker_time(broker, ck_admin):
    ck_admin.create_topics(
        [CkNewTopic("lat", 1, 1, config={"message.timestamp.type": "LogAppendTime"}),
         CkNewTopic("ct", 1, 1)]
    )["lat"].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "lz4"})
    before = int(time.time() * 1000)
    for topic in ("lat", "ct"):
        for i in range(10):
            producer.produce(topic, value=b"%d" % i, timestamp=1_000_000)
    assert producer.flush(10) == 0
    after = int(time.time() * 1000)

    for topic, expect_type in (("lat", TIMESTAMP_LOG_APPEND_TIME), ("ct", TIMESTAMP_CREATE_TIME)):
        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic}",
             "auto.offset.reset": "earliest"}
        )
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 10 and time.monotonic() < deadline:
            m = consumer.poll(1)
            if m is not None and m.error() is None:
                got.append(m.timestamp())
        consumer.close()
        assert len(got) == 10
        for ts_type, ts in got:
            assert ts_type == expect_type
            if topic == "lat":
                assert before <= ts <= after
            else:
                assert ts == 1_000_000
