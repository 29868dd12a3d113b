#!/usr/bin/env python3
"""Collector: simulated temperature sensors producing JSON events to `events`.

Every event is keyed by its sensor id, so all of a sensor's events land in one
partition, in the order they were sent. An event carries the sensor id, a
per-sensor sequence number (0, 1, 2, ... — the consumers use it to check the
order), a timestamp and the reading:

    key   sensor-07
    value {"sensor": "sensor-07", "seq": 42, "ts": 1764080000000, "reading": 23.81}

A fraction of the events (--dirty-rate) is deliberately dirty, as field data
is: the reading missing, out of range (a sensor glitch), sent as a string, or
the whole value not JSON at all. Preprocessing repairs the string readings and
drops the rest.

    python collector.py --events 5000 --sensors 20 --rate 2000
"""

import json
import math
import random
import time

import common

DIRTY_KINDS = ("missing_reading", "out_of_range", "string_reading", "not_json")
REPAIRABLE = {"string_reading"}  # preprocessing turns these into clean events


class Sensor:
    def __init__(self, index, rng):
        self.id = f"sensor-{index:02d}"
        self.seq = 0
        self.base = rng.uniform(15.0, 35.0)  # each sensor has its own level,
        self.amplitude = rng.uniform(2.0, 6.0)  # its own daily swing,
        self.period = rng.uniform(40.0, 80.0)  # cycle length in events,
        self.phase = rng.uniform(0, 2 * math.pi)  # and where in it it starts

    def read(self, rng):
        angle = 2 * math.pi * self.seq / self.period + self.phase
        return round(self.base + self.amplitude * math.sin(angle) + rng.gauss(0, 0.1), 3)


def make_event(sensor, rng, dirty_rate):
    """(value to send, kind): kind is "clean" or one of DIRTY_KINDS."""
    event = {"sensor": sensor.id, "seq": sensor.seq, "ts": int(time.time() * 1000), "reading": sensor.read(rng)}
    sensor.seq += 1
    if rng.random() >= dirty_rate:
        return event, "clean"
    kind = rng.choice(DIRTY_KINDS)
    if kind == "missing_reading":
        del event["reading"]
    elif kind == "out_of_range":
        event["reading"] = rng.choice([-273.15, 999.9, 1e6])
    elif kind == "string_reading":
        event["reading"] = str(event["reading"])
    else:  # not_json: a truncated line from a flaky link
        return json.dumps(event).encode()[:17], kind
    return event, kind


def main():
    p = common.arg_parser(__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=0, help="events to send in all (0: until stopped); same as --max-records")
    p.add_argument("--sensors", type=int, default=20)
    p.add_argument("--rate", type=float, default=500, help="events per second over all sensors (0: as fast as possible)")
    p.add_argument("--dirty-rate", type=float, default=0.05, help="fraction of deliberately dirty events")
    p.add_argument("--seed", type=int, default=7, help="random seed (the same seed sends the same readings)")
    p.add_argument("--manifest", help="write the (sensor, seq) of every event preprocessing should keep to this JSON file")
    args = p.parse_args()
    if args.events:
        args.max_records = args.events

    common.ensure_topics(args.bootstrap_server, args.partitions)
    stopper = common.Stopper(args)
    progress = common.Progress("collector", args.quiet)
    rng = random.Random(args.seed)
    sensors = [Sensor(i, rng) for i in range(args.sensors)]
    producer = common.make_producer(args.bootstrap_server)

    counts = {"clean": 0, **{k: 0 for k in DIRTY_KINDS}}
    keep = []  # (sensor, seq) preprocessing should turn into a feature record
    futures = []
    partitions = {}  # sensor -> the partitions its events went to (always exactly one)
    sent = 0
    started = time.monotonic()
    while not stopper.reason(sent):
        sensor = sensors[rng.randrange(len(sensors))]  # sensors report at random
        seq = sensor.seq
        value, kind = make_event(sensor, rng, args.dirty_rate)
        counts[kind] += 1
        if kind == "clean" or kind in REPAIRABLE:
            keep.append((sensor.id, seq))
        futures.append((sensor.id, common.send(producer, common.EVENTS, sensor.id, value)))
        sent += 1
        if len(futures) >= 1000:
            for sid, f in futures:
                partitions.setdefault(sid, set()).add(f.get(timeout=30).partition)
            futures.clear()
        if args.rate > 0:
            ahead = sent / args.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        progress(f"sent {sent}")
    producer.flush()
    for sid, f in futures:
        partitions.setdefault(sid, set()).add(f.get(timeout=30).partition)
    producer.close()

    if args.manifest:
        with open(args.manifest, "w") as f:
            json.dump(keep, f)
    common.summary(
        {
            "script": "collector",
            "sent": sent,
            "sensors": args.sensors,
            "counts": counts,
            "expected_features": len(keep),
            # same key -> same partition: every sensor used exactly one
            "sensors_on_one_partition": sum(1 for ps in partitions.values() if len(ps) == 1),
            "stopped_by": stopper.reason(sent),
            "seconds": round(time.monotonic() - started, 2),
        }
    )


if __name__ == "__main__":
    main()
