#!/usr/bin/env python3
"""Infer: the consumer group "infer" reads `features` (independently of
training: another group, its own offsets), forecasts each sensor's next reading
with the latest model and publishes the forecasts to `predictions`, keyed by
sensor id:

    key   sensor-07
    value {"sensor": "sensor-07", "seq": 42, "ts": ..., "reading": 23.81,
           "predicted_next": 24.05, "model_version": 17}

The model is the weights train.py writes to --model, re-read whenever the file
changes; until there is one, a built-in model forecasts "same as now". When a
sensor's next reading arrives, the forecast made for it is scored: "mae" in
the summary is the mean absolute error, in degrees C.

Like preprocessing, it produces a batch's predictions, flushes them, and only
then commits the batch's offsets: stopped and restarted, it resumes where it
left off.

    python infer.py --idle-timeout 5 --model model.json
"""

import json
import os

import common
from train import load_model, predict

BUILT_IN = ([0.0, 1.0, 0.0, 0.0], 0)  # next reading = this reading


class Inferer:
    def __init__(self, producer, model_path):
        self.producer = producer
        self.model_path = model_path
        self.model_mtime = None
        self.weights, self.version = BUILT_IN
        self.versions_used = set()
        self.pending = {}  # sensor -> (seq, forecast of its next reading)
        self.abs_error = 0.0
        self.scored = 0
        self.counts = {"consumed": 0, "published": 0, "order_violations": 0}

    def refresh_model(self):
        if not self.model_path:
            return
        try:
            mtime = os.stat(self.model_path).st_mtime_ns
        except OSError:
            return
        if mtime != self.model_mtime:
            loaded = load_model(self.model_path)
            if loaded:
                self.weights, self.version = loaded
                self.model_mtime = mtime

    def handle_batch(self, records):
        self.refresh_model()  # the newest weights, once per batch
        futures = []
        for record in records:
            self.counts["consumed"] += 1
            f = json.loads(record.value)
            sensor = f["sensor"]
            last = self.pending.get(sensor)
            if last is not None:
                if f["seq"] <= last[0]:
                    self.counts["order_violations"] += 1
                else:
                    self.abs_error += abs(f["reading"] - last[1])
                    self.scored += 1
            forecast = predict(self.weights, f)
            self.pending[sensor] = (f["seq"], forecast)
            self.versions_used.add(self.version)
            prediction = {
                "sensor": sensor,
                "seq": f["seq"],
                "ts": f["ts"],
                "reading": f["reading"],
                "predicted_next": round(forecast, 3),
                "model_version": self.version,
            }
            futures.append(common.send(self.producer, common.PREDICTIONS, sensor, prediction))
            self.counts["published"] += 1
        return futures


def main():
    p = common.arg_parser(__doc__.split("\n\n")[0])
    p.add_argument("--group", default="infer")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--model", default="model.json", help="the weights train.py writes ('' for the built-in model)")
    args = p.parse_args()

    common.ensure_topics(args.bootstrap_server, args.partitions)
    stopper = common.Stopper(args)
    progress = common.Progress("infer", args.quiet)
    producer = common.make_producer(args.bootstrap_server)
    consumer = common.make_consumer(args.bootstrap_server, args.group, common.FEATURES, args.batch_size)
    inf = Inferer(producer, args.model)
    try:
        _, reason, stats = common.consume_batches(consumer, stopper, progress, inf.handle_batch, producer)
    finally:
        common.close_quietly(consumer, producer)
    common.summary(
        {
            "script": "infer",
            **inf.counts,
            "mae": round(inf.abs_error / inf.scored, 4) if inf.scored else None,
            "model_versions": [min(inf.versions_used), max(inf.versions_used)] if inf.versions_used else None,
            **stats,
            "stopped_by": reason,
        }
    )


if __name__ == "__main__":
    main()
