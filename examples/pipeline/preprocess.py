#!/usr/bin/env python3
"""Preprocess: the consumer group "preprocess" reads `events`, drops or repairs
dirty events, extracts features and produces them to `features`, keyed by
sensor id.

Features per event: the reading, the rolling mean of the sensor's last
--window clean readings, and the change since its previous clean reading:

    key   sensor-07
    value {"sensor": "sensor-07", "seq": 42, "ts": ..., "reading": 23.81,
           "mean": 23.2, "delta": 0.41, "repaired": false}

It also checks the order the seed promises: a sensor's sequence numbers must
arrive increasing (its events share a partition, read in offset order);
every event that does not is counted in "order_violations".

Run several copies to share the partitions (same --group). Stop one (Ctrl-C,
SIGTERM, --max-records, --duration) and start it again: it resumes after the
last batch it committed.

    python preprocess.py --idle-timeout 5
"""

import json
from collections import deque

import common


class Preprocessor:
    def __init__(self, producer, window):
        self.producer = producer
        self.window = window
        self.recent = {}  # sensor -> deque of its last clean readings
        self.last_seq = {}  # sensor -> last sequence number seen
        self.counts = {"consumed": 0, "produced": 0, "repaired": 0, "order_violations": 0}
        self.dropped = {"not_json": 0, "missing_field": 0, "bad_reading": 0, "out_of_range": 0}

    def clean(self, record):
        """The event as a dict with a float reading, or None to drop it."""
        try:
            event = json.loads(record.value)
        except (TypeError, ValueError):
            self.dropped["not_json"] += 1
            return None
        if not isinstance(event, dict) or not all(k in event for k in ("sensor", "seq", "ts", "reading")):
            self.dropped["missing_field"] += 1
            return None
        reading = event["reading"]
        if isinstance(reading, str):  # "23.81": some firmware sends strings
            try:
                reading = float(reading)
            except ValueError:
                self.dropped["bad_reading"] += 1
                return None
            event["repaired"] = True
            self.counts["repaired"] += 1
        if not isinstance(reading, (int, float)) or not common.VALID_RANGE[0] <= reading <= common.VALID_RANGE[1]:
            self.dropped["out_of_range"] += 1
            return None
        event["reading"] = float(reading)
        return event

    def handle_batch(self, records):
        futures = []
        for record in records:
            self.counts["consumed"] += 1
            event = self.clean(record)
            if event is None:
                continue
            sensor, seq = event["sensor"], event["seq"]
            if seq <= self.last_seq.get(sensor, -1):
                self.counts["order_violations"] += 1
            self.last_seq[sensor] = seq
            recent = self.recent.setdefault(sensor, deque(maxlen=self.window))
            delta = event["reading"] - recent[-1] if recent else 0.0
            recent.append(event["reading"])
            feature = {
                "sensor": sensor,
                "seq": seq,
                "ts": event["ts"],
                "reading": event["reading"],
                "mean": round(sum(recent) / len(recent), 4),
                "delta": round(delta, 4),
                "repaired": event.get("repaired", False),
            }
            futures.append(common.send(self.producer, common.FEATURES, sensor, feature))
            self.counts["produced"] += 1
        return futures


def main():
    p = common.arg_parser(__doc__.split("\n\n")[0])
    p.add_argument("--group", default="preprocess")
    p.add_argument("--batch-size", type=int, default=200, help="most records per poll, processed and committed together")
    p.add_argument("--window", type=int, default=5, help="readings in the rolling mean")
    args = p.parse_args()

    common.ensure_topics(args.bootstrap_server, args.partitions)
    stopper = common.Stopper(args)
    progress = common.Progress("preprocess", args.quiet)
    producer = common.make_producer(args.bootstrap_server)
    consumer = common.make_consumer(args.bootstrap_server, args.group, common.EVENTS, args.batch_size)
    pre = Preprocessor(producer, args.window)
    try:
        _, reason, stats = common.consume_batches(consumer, stopper, progress, pre.handle_batch, producer)
    finally:
        common.close_quietly(consumer, producer)
    common.summary(
        {"script": "preprocess", **pre.counts, "dropped": pre.dropped, "sensors": len(pre.last_seq), **stats, "stopped_by": reason}
    )


if __name__ == "__main__":
    main()
