"""Fixtures: a real runnel binary on a free port with a temp data dir."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TEST_RUNNEL_BIN", ROOT / "target" / "release" / "runnel"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Broker:
    """One runnel process. start/stop/kill keep the data dir, so a test can
    restart the broker on the same data."""

    def __init__(self, data_dir, port=None, extra=()):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.http_port = free_port()
        self.http_listen = f"127.0.0.1:{self.http_port}"
        self.extra = list(extra)
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=10):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(BIN),
                "--listen",
                self.bootstrap,
                "--http-listen",
                self.http_listen,
                "--data-dir",
                str(self.data_dir),
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runnel exited with {self.proc.returncode}: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"runnel did not listen within {timeout}s: {self.log()}")

    def stop(self, timeout=15):
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        """SIGKILL: a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture
def make_broker(tmp_path):
    """Factory: make_broker(port=None, extra=()) -> started Broker; all are
    stopped at the end of the test."""
    brokers = []

    def make(port=None, extra=(), data_dir=None):
        b = Broker(data_dir or tmp_path / f"data{len(brokers)}", port=port, extra=extra)
        brokers.append(b)
        return b.start()

    yield make
    for b in brokers:
        b.kill()


@pytest.fixture
def broker(make_broker):
    return make_broker()


def partition_values(bootstrap, topic, isolation="read_uncommitted", timeout=30):
    """Every value of partition 0 of `topic` up to its end, read with confluent-kafka
    at `isolation` (no group membership, no commits)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            raise AssertionError(m.error())
        out.append(m.value())
    consumer.close()
    return out
