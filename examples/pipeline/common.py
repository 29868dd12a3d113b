"""Shared pieces of the pipeline scripts: topic names, command-line options,
topic creation, stopping (signals, --duration, --max-records, --idle-timeout),
progress on stderr and the one JSON summary line on stdout, and the
consume -> process -> produce -> commit loop the three consumers share."""

import argparse
import json
import signal
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

EVENTS = "events"  # collector -> preprocess: raw JSON events, key = sensor id
FEATURES = "features"  # preprocess -> train, infer: cleaned events with features
PREDICTIONS = "predictions"  # infer -> whoever acts on them
TOPICS = (EVENTS, FEATURES, PREDICTIONS)

# Readings are temperatures in degrees C; the model works on them scaled by
# these two constants so that plain SGD with one learning rate converges.
CENTER = 25.0
SCALE = 10.0
VALID_RANGE = (-50.0, 150.0)


def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--bootstrap-server", default="127.0.0.1:9092", help="broker address (default %(default)s)")
    p.add_argument("--partitions", type=int, default=4, help="partitions of each topic when this script creates it")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: no limit)")
    p.add_argument("--max-records", type=int, default=0, help="stop after this many records (0: no limit)")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=0,
        help="consumers: stop when nothing arrived for this many seconds (0: keep waiting)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def ensure_topics(bootstrap, partitions, names=TOPICS):
    """Create the pipeline's topics with `partitions` partitions each; topics
    that exist already are left as they are (every script calls this, so the
    scripts can start in any order)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="pipeline-admin")
    try:
        result = admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1} for name in names},
            raise_errors=False,
        )
        for topic in result["topics"]:
            # 0: created, 36: TOPIC_ALREADY_EXISTS (another script was first).
            if topic["error_code"] not in (0, 36):
                raise RuntimeError(f"creating topic {topic['name']}: {topic}")
        admin.wait_for_topics(list(names))
    finally:
        admin.close()


class Stopper:
    """Decides when a script stops: SIGINT/SIGTERM (finish the batch in hand,
    commit, exit cleanly), --duration, --max-records, --idle-timeout."""

    def __init__(self, args):
        self.started = time.monotonic()
        self.deadline = self.started + args.duration if args.duration > 0 else None
        self.max_records = args.max_records
        self.idle_timeout = args.idle_timeout
        self.last_activity = None  # set once there is something to wait for
        self.signalled = None
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, _frame):
        self.signalled = signal.Signals(signum).name

    def remaining(self, done):
        """How many more records may be handled (None: no limit)."""
        return None if self.max_records <= 0 else max(0, self.max_records - done)

    def activity(self):
        self.last_activity = time.monotonic()

    def reason(self, done):
        """Why to stop now, or None to go on."""
        now = time.monotonic()
        if self.signalled:
            return self.signalled
        if self.max_records > 0 and done >= self.max_records:
            return "max-records"
        if self.deadline is not None and now >= self.deadline:
            return "duration"
        if self.idle_timeout > 0 and self.last_activity is not None and now - self.last_activity >= self.idle_timeout:
            return "idle"
        return None


class Progress:
    """A progress line on stderr at most once a second."""

    def __init__(self, name, quiet):
        self.name = name
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, text, force=False):
        now = time.monotonic()
        if not self.quiet and (force or now - self.last >= 1.0):
            self.last = now
            print(f"[{self.name}] {text}", file=sys.stderr, flush=True)


def summary(fields):
    """The script's last stdout line: one JSON object a test or a shell can read."""
    print(json.dumps(fields, sort_keys=True), flush=True)


def make_producer(bootstrap, **config):
    """Keyed JSON producer. Idempotence (which implies acks=all and at most 5
    requests in flight) keeps a partition's records in the order they were
    sent even when a request is retried, so per-key order holds end to end."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        **config,
    )


def send(producer, topic, key, value):
    """Send `value` (a dict as JSON, or bytes as they are) keyed by `key`.
    Returns the send's future."""
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return producer.send(topic, key=key.encode(), value=data)


def make_consumer(bootstrap, group, topic, batch_size):
    """A group member that commits by hand: offsets are committed only after
    the batch they cover has been processed (and its output produced)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a new group starts at the beginning
        max_poll_records=batch_size,
    )
    consumer.subscribe([topic])
    return consumer


def consume_batches(consumer, stopper, progress, handle_batch, producer=None, stats=None):
    """The loop the three consumers share. For each batch poll() returns:

      1. handle_batch(records) processes it, sending any output to `producer`;
      2. the producer is flushed and every send checked, so the output is in
         the log before ...
      3. ... the batch's offsets (last offset + 1 per partition) are committed
         synchronously.

    A consumer stopped at any point between batches (a signal, a limit)
    therefore resumes, in the same group, exactly after the last batch it
    finished. Killed inside a batch (SIGKILL, a crash), it redelivers that
    batch: at-least-once, duplicates bounded by one batch.

    Returns (records handled, stop reason, stats)."""
    stats = stats if stats is not None else {}
    stats.setdefault("commits", 0)
    stats.setdefault("commit_failures", 0)
    done = 0
    while True:
        reason = stopper.reason(done)
        if reason:
            break
        batch_size = consumer.config["max_poll_records"]
        remaining = stopper.remaining(done)
        batches = consumer.poll(timeout_ms=200, max_records=batch_size if remaining is None else min(batch_size, remaining))
        if stopper.last_activity is None and consumer.assignment():
            stopper.activity()  # the idle clock starts once partitions are assigned
        if not batches:
            progress(f"waiting; {done} records so far")
            continue
        stopper.activity()
        records = [r for tp in sorted(batches) for r in batches[tp]]
        pending = handle_batch(records) or []
        if producer is not None:
            producer.flush()
            for future in pending:
                future.get(timeout=30)  # raises if the send failed: then nothing is committed
        offsets = {
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
            for tp, msgs in batches.items()
        }
        try:
            consumer.commit(offsets)
            stats["commits"] += 1
        except CommitFailedError as e:
            # The group rebalanced under us (another member joined or left):
            # the partitions' new owner will process this batch again.
            stats["commit_failures"] += 1
            progress(f"commit failed, batch will be redelivered: {e}", force=True)
        first = done == 0
        done += len(records)
        progress(f"{done} records", force=first)
    return done, reason, stats


def close_quietly(*clients):
    for c in clients:
        try:
            c.close()
        except KafkaError:
            pass
