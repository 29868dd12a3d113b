#!/usr/bin/env bash
# Kafka's kafka-topics.sh, as much of it as librdkafka's tests use: with
# KAFKA_PATH pointing at tests/compat/kafka, a test that shells out to
# `$KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server B --create|--delete ...`
# (0077) gets the topic created or deleted through runnel's own CLI, over the
# admin API like the real tool. COMPAT_RUNNEL_BIN is the runnel binary.
set -euo pipefail
bin=${COMPAT_RUNNEL_BIN:?COMPAT_RUNNEL_BIN must name the runnel binary}
bootstrap=127.0.0.1:9092 op="" topic="" partitions=-1 rf=-1 configs=()
while [ $# -gt 0 ]; do
  case $1 in
    --bootstrap-server) bootstrap=$2; shift 2 ;;
    --create | --delete) op=${1#--}; shift ;;
    --topic) topic=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --replication-factor) rf=$2; shift 2 ;;
    --config) configs+=(--config "$2"); shift 2 ;;
    *) echo "kafka-topics.sh (runnel): unsupported argument $1" >&2; exit 1 ;;
  esac
done
case $op in
  create) exec "$bin" topic create "$topic" --partitions "$partitions" \
    --replication-factor "$rf" "${configs[@]}" -b "$bootstrap" ;;
  delete) exec "$bin" topic delete "$topic" -b "$bootstrap" ;;
  *) echo "kafka-topics.sh (runnel): --create or --delete expected" >&2; exit 1 ;;
esac
