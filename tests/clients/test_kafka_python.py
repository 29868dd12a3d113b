"""kafka-python, the first client users try."""

import subprocess
import sys
import textwrap
import threading

from conftest import port_is_free

# The example from the issue, verbatim but for auto_offset_reset='earliest'.
EXAMPLE = textwrap.dedent(
    """\
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers='localhost:9092')
    for i in range(10):
        producer.send('my_topic', f'Message {i}'.encode('utf-8'))
    producer.close()
    from kafka import KafkaConsumer
    consumer = KafkaConsumer('my_topic', bootstrap_servers='localhost:9092', auto_offset_reset='earliest')
    for message in consumer:
        print(f'Received message: {message.value.decode("utf-8")}')
    """
)


def test_readme_example_runs_as_written(make_broker):
    # The example names localhost:9092; use exactly that when the port is free.
    port = 9092 if port_is_free(9092) else None
    broker = make_broker(port=port)
    script = EXAMPLE if port == 9092 else EXAMPLE.replace("9092", str(broker.port))
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    received = []
    watchdog = threading.Timer(120, proc.kill)  # the example never exits by itself
    watchdog.start()
    try:
        for line in proc.stdout:
            received.append(line.strip())
            if len(received) == 10:
                break
    finally:
        watchdog.cancel()
        proc.kill()
        err = proc.stderr.read()
    assert received == [f"Received message: Message {i}" for i in range(10)], err


def test_producer_consumer_keys_headers_and_offsets(broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    futures = [
        producer.send("kp", key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("h", b"%d" % i)])
        for i in range(1000)
    ]
    producer.flush()
    offsets = [f.get(timeout=10).offset for f in futures]
    assert offsets == list(range(1000))
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    tp = TopicPartition("kp", 0)
    consumer.assign([tp])
    got = [(m.offset, m.key, m.value, m.headers) for m in consumer]
    consumer.close()
    assert got == [(i, f"k{i}".encode(), f"v{i}".encode(), [("h", b"%d" % i)]) for i in range(1000)]


def test_admin_create_and_delete_topics(broker):
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("adm", num_partitions=3, replication_factor=1)])
    assert "adm" in admin.list_topics()
    try:
        admin.create_topics([NewTopic("adm", num_partitions=1, replication_factor=1)])
        raise AssertionError("second create must fail")
    except TopicAlreadyExistsError:
        pass
    admin.delete_topics(["adm"])
    assert "adm" not in admin.list_topics()
    admin.close()
