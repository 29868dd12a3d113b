#!/usr/bin/env python3
"""Audit: read a pipeline topic (`features` or `predictions`) from its
beginning to its current end, outside any consumer group, and check the
guarantees: every sensor on one partition, each sensor's sequence numbers
increasing in offset order, no (sensor, seq) twice.

    python audit.py features
"""

import argparse
import json

from kafka import KafkaConsumer, TopicPartition

import common


def audit(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        per_partition = {tp.partition: [] for tp in tps}
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                per_partition[tp.partition].extend(m for m in msgs if m.offset < end[tp])
    finally:
        consumer.close()

    seen = set()
    last_seq = {}
    partitions_of = {}
    report = {"topic": topic, "records": 0, "duplicates": 0, "order_violations": 0}
    for partition, msgs in per_partition.items():
        for m in msgs:
            v = json.loads(m.value)
            key = (v["sensor"], v["seq"])
            report["records"] += 1
            if key in seen:
                report["duplicates"] += 1
            seen.add(key)
            if v["seq"] <= last_seq.get(v["sensor"], -1):
                report["order_violations"] += 1
            last_seq[v["sensor"]] = v["seq"]
            partitions_of.setdefault(v["sensor"], set()).add(partition)
    report["distinct"] = len(seen)
    report["sensors"] = len(partitions_of)
    report["sensors_on_several_partitions"] = sum(1 for ps in partitions_of.values() if len(ps) > 1)
    report["per_partition"] = {p: len(msgs) for p, msgs in per_partition.items()}
    return report, seen


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap-server", default="127.0.0.1:9092", help="broker address (default %(default)s)")
    p.add_argument("topic", choices=[common.FEATURES, common.PREDICTIONS])
    args = p.parse_args()
    report, _ = audit(args.bootstrap_server, args.topic)
    common.summary({"script": "audit", **report})


if __name__ == "__main__":
    main()
