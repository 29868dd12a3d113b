"""Idempotent producer (KIP-98) with confluent-kafka: 100,000 messages while the
broker is restarted twice mid-stream (kill -9 or SIGTERM) with requests in
flight; the producer sends them again, and each message lands once, in order,
with no gap."""

import pytest
from confluent_kafka import Producer

from conftest import partition_values

COUNT = 100_000


@pytest.mark.parametrize("restart", ["kill", "stop"])
def test_retries_across_broker_restarts_write_each_message_once(broker, restart):
    failed = []
    acked = [0]

    def report(err, msg):
        if err is None:
            acked[0] += 1
        else:
            failed.append(err)

    p = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "enable.idempotence": True,
            "linger.ms": 2,
            "message.timeout.ms": 120_000,
        }
    )
    restarts = 0
    i = 0
    while i < COUNT:
        # Keep the stream going rather than queueing everything at once, so
        # the restarts catch requests in flight.
        if i - acked[0] - len(failed) > 5_000:
            p.poll(0.001)
            continue
        try:
            p.produce("idem-restart", value=b"%d" % i, on_delivery=report)
            i += 1
        except BufferError:
            p.poll(0.01)
            continue
        p.poll(0)
        if restarts < 2 and acked[0] >= (restarts + 1) * COUNT // 3:
            if restart == "kill":
                broker.kill()
            else:
                assert broker.stop() == 0, broker.log()
            broker.start()
            restarts += 1
    assert restarts == 2
    assert p.flush(120) == 0
    assert failed == []
    assert acked[0] == COUNT
    got = partition_values(broker.bootstrap, "idem-restart", timeout=60)
    assert len(got) == COUNT, f"{len(got) - COUNT:+d} messages"
    assert got == [b"%d" % i for i in range(COUNT)]
