#!/usr/bin/env python3
"""Seed corpus from real client traffic.

Starts the runnel release binary on a temp data dir behind a recording TCP
proxy (the broker advertises the proxy, so every connection goes through it),
runs kafka-python, confluent-kafka and kcat against it, then writes one file
per recorded request frame:

  corpus/frame/         a length-prefixed frame after a read-size byte (and a
                        few whole client streams)
  corpus/request/       the frame itself (header and body)
  corpus/record_batch/  the records of each produced partition, after a
                        selector byte naming the topic they went to
  corpus/log_recovery/  each partition directory the broker left, packed as
                        the log_recovery target reads it

Run from the repository root, after `cargo build --release`:

  python3 -m venv .venv && .venv/bin/pip install -r tests/clients/requirements.txt
  .venv/bin/python fuzz/capture_corpus.py            # needs kcat on PATH

TEST_RUNNEL_BIN overrides the broker binary (as for tests/clients). Existing corpus files are kept; new
ones are named by the SHA-1 of their contents, as libFuzzer names them.
"""

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
BIN = Path(os.environ.get("TEST_RUNNEL_BIN", ROOT / "target" / "release" / "runnel"))

# The topics of runnel_fuzz::TOPICS (fuzz/src/lib.rs), in the same order: the
# record_batch selector is the index of the topic a batch was produced to.
TOPICS = [
    ("t-plain", 3, {}),
    ("t-compact", 2, {"cleanup.policy": "compact"}),
    ("t-append-time", 1, {"message.timestamp.type": "LogAppendTime"}),
    ("t-zstd", 1, {"compression.type": "zstd"}),
    ("t-lz4", 1, {"compression.type": "lz4"}),
    ("t-uncompressed", 1, {"compression.type": "uncompressed"}),
    ("t-compact-gzip", 1, {"cleanup.policy": "compact", "compression.type": "gzip"}),
    (
        "t-bounded",
        1,
        {
            "message.timestamp.before.max.ms": "3600000",
            "message.timestamp.after.max.ms": "3600000",
        },
    ),
]
TOPIC_INDEX = {name: i for i, (name, _, _) in enumerate(TOPICS)}

# Most seeds kept per (api key, version): enough variety, small corpus.
PER_API_VERSION = 6
MAX_SEED = 64 << 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """A TCP proxy that records what clients send, cut into request frames."""

    def __init__(self, listen_port, broker_port):
        self.listen_port = listen_port
        self.broker_port = broker_port
        self.label = "setup"
        self.frames = []  # (label, frame bytes)
        self.streams = []  # (label, whole client stream)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    def start(self):
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _serve(self, client_r, client_w):
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.broker_port)
        label = self.label
        stream = bytearray()

        async def upstream():
            buf = bytearray()
            while data := await client_r.read(65536):
                stream.extend(data)
                buf.extend(data)
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if len(buf) < 4 + n:
                        break
                    self.frames.append((label, bytes(buf[4 : 4 + n])))
                    del buf[: 4 + n]
                broker_w.write(data)
                await broker_w.drain()
            broker_w.close()

        async def downstream():
            while data := await broker_r.read(65536):
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (ConnectionError, OSError):
            pass
        self.streams.append((label, bytes(stream)))


def run_clients(rec, bootstrap):
    """Real clients doing what applications do: admin, produce with every codec,
    idempotent and transactional producers, consumer groups, offset queries."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import (
        AdminClient,
        ConfigResource,
        NewPartitions,
        NewTopic,
    )
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic as KNewTopic

    rec.label = "confluent-admin"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(n, p, 1, config=c) for n, p, c in TOPICS]
    for f in admin.create_topics(new).values():
        f.result(10)
    admin.create_topics([NewTopic("t-scratch", 1, 1)])["t-scratch"].result(10)
    admin.create_partitions([NewPartitions("t-scratch", 3)])["t-scratch"].result(10)
    res = ConfigResource(ConfigResource.Type.TOPIC, "t-plain")
    admin.describe_configs([res])[res].result(10)
    admin.list_topics(timeout=10)
    admin.describe_cluster().result(10)

    rec.label = "confluent-produce"
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer(
            {
                "bootstrap.servers": bootstrap,
                "compression.type": codec,
                "enable.idempotence": codec != "none",
                "linger.ms": 5,
            }
        )
        for name, partitions, _ in TOPICS:
            for i in range(20):
                p.produce(name, key=f"k{i % 7}".encode(), value=f"{codec}-{i}".encode() * 3,
                          partition=i % partitions, headers=[("h", b"v")] if i % 5 == 0 else None)
        p.produce("t-plain", value=b"no key")
        p.flush(10)

    rec.label = "confluent-txn"
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "fuzz-txn"})
    p.init_transactions(10)
    for commit in (True, False):
        p.begin_transaction()
        for i in range(5):
            p.produce("t-plain", key=b"tk", value=f"txn-{commit}-{i}".encode(), partition=i % 3)
        if commit:
            p.commit_transaction(10)
        else:
            p.abort_transaction(10)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fuzz-txn-group",
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                  "enable.auto.commit": False})
    p.begin_transaction()
    p.produce("t-plain", value=b"with offsets", partition=0)
    c.subscribe(["t-plain"])
    c.poll(3)
    p.send_offsets_to_transaction([TopicPartition("t-plain", 0, 1)],
                                  c.consumer_group_metadata(), 10)
    p.commit_transaction(10)
    c.close()

    rec.label = "confluent-consume"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fuzz-group",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.subscribe([n for n, _, _ in TOPICS])
    got, deadline = 0, time.monotonic() + 10
    while time.monotonic() < deadline and got < 200:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    c.committed([TopicPartition("t-plain", 0)], 10)
    c.get_watermark_offsets(TopicPartition("t-plain", 0), 10)
    c.offsets_for_times([TopicPartition("t-plain", 0, 0)], 10)
    c.close()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fuzz-kip848",
                  "group.protocol": "consumer", "auto.offset.reset": "earliest"})
    c.subscribe(["t-plain"])
    for _ in range(6):
        c.poll(0.5)
    c.close()

    rec.label = "confluent-admin"
    admin.list_consumer_groups().result(10)
    admin.describe_consumer_groups(["fuzz-group"])["fuzz-group"].result(10)
    admin.list_consumer_group_offsets(
        [__import__("confluent_kafka").ConsumerGroupTopicPartitions("fuzz-group")]
    )["fuzz-group"].result(10)
    admin.delete_records([TopicPartition("t-scratch", 0, 0)])
    admin.delete_consumer_groups(["fuzz-group"])["fuzz-group"].result(10)
    admin.delete_topics(["t-scratch"])["t-scratch"].result(10)

    rec.label = "kafka-python"
    kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    kp_admin.create_topics([KNewTopic("t-kp", 2, 1)])
    for codec in [None, "gzip", "snappy", "lz4", "zstd"]:
        kp = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, acks="all")
        for i in range(10):
            kp.send("t-kp", key=f"k{i}".encode(), value=f"kp-{codec}-{i}".encode())
            kp.send("t-compact", key=f"k{i}".encode(), value=b"v")
        kp.flush(10)
        kp.close()
    kc = KafkaConsumer("t-kp", bootstrap_servers=bootstrap, group_id="kp-group",
                       auto_offset_reset="earliest", consumer_timeout_ms=3000)
    for _ in kc:
        pass
    kc.commit()
    kc.close()
    kp_admin.delete_topics(["t-kp"])
    kp_admin.close()

    rec.label = "kcat"
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        print("kcat not found: no kcat traffic", file=sys.stderr)
        return
    run = lambda *a, **kw: subprocess.run([kcat, "-b", bootstrap, *a], timeout=30,
                                         capture_output=True, **kw)
    run("-L")
    run("-P", "-t", "t-plain", "-K:", "-z", "snappy", input=b"a:1\nb:2\nc:3\n")
    run("-P", "-t", "t-compact", "-K:", input=b"x:1\ny:2\n")
    run("-C", "-t", "t-plain", "-o", "beginning", "-e", "-c", "20")
    run("-G", "kcat-group", "-o", "beginning", "-e", "t-plain")
    run("-Q", "-t", "t-plain:0:0")


def request_seeds(frames):
    """Frames grouped by (api key, version), at most PER_API_VERSION of each."""
    seen = defaultdict(list)
    for label, frame in frames:
        if len(frame) < 8 or len(frame) > MAX_SEED:
            continue
        key, version = struct.unpack(">hh", frame[:4])
        kept = seen[(key, version)]
        if frame not in kept and len(kept) < PER_API_VERSION:
            kept.append(frame)
    return [f for frames in seen.values() for f in frames]


def read_uvarint(b, pos):
    shift = value = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def skip_tags(b, pos):
    count, pos = read_uvarint(b, pos)
    for _ in range(count):
        _, pos = read_uvarint(b, pos)
        size, pos = read_uvarint(b, pos)
        pos += size
    return pos


def produce_records(frame):
    """(topic, records) of each partition of a Produce request (v3 to v13)."""
    key, version = struct.unpack(">hh", frame[:4])
    if key != 0:
        return []
    flexible = version >= 9
    pos = 8
    (n,) = struct.unpack(">h", frame[pos : pos + 2])  # client id
    pos += 2 + max(n, 0)
    if flexible:
        pos = skip_tags(frame, pos)
        n, pos = read_uvarint(frame, pos)  # transactional id
        pos += max(n - 1, 0)
    else:
        (n,) = struct.unpack(">h", frame[pos : pos + 2])
        pos += 2 + max(n, 0)
    pos += 6  # acks, timeout
    out = []
    if flexible:
        topics, pos = read_uvarint(frame, pos)
        topics -= 1
    else:
        (topics,) = struct.unpack(">i", frame[pos : pos + 4])
        pos += 4
    for _ in range(topics):
        if version >= 13:
            name, pos = None, pos + 16
        elif flexible:
            n, pos = read_uvarint(frame, pos)
            name, pos = frame[pos : pos + n - 1].decode(), pos + n - 1
        else:
            (n,) = struct.unpack(">h", frame[pos : pos + 2])
            name, pos = frame[pos + 2 : pos + 2 + n].decode(), pos + 2 + n
        if flexible:
            partitions, pos = read_uvarint(frame, pos)
            partitions -= 1
        else:
            (partitions,) = struct.unpack(">i", frame[pos : pos + 4])
            pos += 4
        for _ in range(partitions):
            pos += 4  # index
            if flexible:
                n, pos = read_uvarint(frame, pos)
                n -= 1
            else:
                (n,) = struct.unpack(">i", frame[pos : pos + 4])
                pos += 4
            if n > 0:
                out.append((name, frame[pos : pos + n]))
                pos += n
            if flexible:
                pos = skip_tags(frame, pos)
        if flexible:
            pos = skip_tags(frame, pos)
    return out


def pack_partition(dir, clean):
    """A partition directory in the log_recovery target's input format."""
    files = sorted(p for p in dir.iterdir() if p.is_file())
    bases = sorted({int(p.name.split(".")[0]) for p in files})[:4]
    head = bytes([1 if clean else 0]) + b"".join(
        struct.pack(">q", b) for b in (bases + [0] * 4)[:4]
    )
    exts = ["log", "index", "timeindex", "txnindex"]
    body = b""
    for p in files:
        base, _, ext = p.name.partition(".")
        if int(base) not in bases or ext not in exts:
            continue
        data = p.read_bytes()
        kind = bases.index(int(base)) * 9 + exts.index(ext)
        body += bytes([kind]) + struct.pack(">I", len(data)) + data
    return head + body


def write_seeds(target, seeds):
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds))} bytes")


def main():
    if not BIN.exists():
        sys.exit(f"{BIN} not found: cargo build --release first (or set TEST_RUNNEL_BIN)")
    broker_port, proxy_port = free_port(), free_port()
    rec = Recorder(proxy_port, broker_port)
    rec.start()
    tmp = Path(tempfile.mkdtemp(prefix="runnel-capture-"))
    broker = subprocess.Popen(
        [str(BIN), "--listen", f"127.0.0.1:{broker_port}", "--http-listen", "off",
         "--advertised-listener", f"127.0.0.1:{proxy_port}",
         "--set", "log.segment_bytes=65536", "--data-dir", str(tmp / "data")],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "broker.log", "wb"),
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", broker_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        run_clients(rec, f"127.0.0.1:{proxy_port}")
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)
    time.sleep(0.5)  # the proxy finishes its last streams

    requests = request_seeds(rec.frames)
    write_seeds("request", requests)
    frames = [b"\xff" + struct.pack(">i", len(f)) + f for f in requests]
    streams = [b"\x07" + s[:8192] for _, s in rec.streams if s][:20]
    write_seeds("frame", frames + streams)

    batches = []
    for frame in requests:
        for name, records in produce_records(frame):
            topic = TOPIC_INDEX.get(name, 0)
            codec = int(hashlib.sha1(records).hexdigest(), 16) % 5
            batches.append(bytes([topic | codec << 4]) + records)
    write_seeds("record_batch", batches)

    logs = []
    for dir in sorted((tmp / "data").iterdir()):
        if dir.is_dir() and dir.name.rpartition("-")[2].isdigit():
            packed = pack_partition(dir, clean=True)
            if 33 < len(packed) <= MAX_SEED:
                logs.append(packed)
                logs.append(b"\x00" + packed[1:])  # the same files after a crash
    write_seeds("log_recovery", logs)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
