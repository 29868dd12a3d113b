#!/usr/bin/env bash
# Runs the librdkafka tests listed in librdkafka.txt (or given as arguments)
# against a fresh release broker, through ../shared/compat/librdkafka.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
compat=${LIBRDKAFKA_SH:-$root/../shared/compat/librdkafka.sh}
if [ ! -x "$compat" ]; then
  echo "librdkafka.sh not found at $compat (set LIBRDKAFKA_SH)" >&2
  exit 1
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release/runnel
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$data.log
# librdkafka's suite assumes its default scenario (tests/scenarios/default.json):
# auto-created topics get 4 partitions. The authorizer is on with the suite's
# principal (User:ANONYMOUS) as super user, so the ACL APIs work (0081) and every
# request passes through the authorizer.
args=(--listen "127.0.0.1:$port" --http-listen off --data-dir "$data" --set num_partitions=4
  --set authorizer.enabled=true --set authorizer.super_users=User:ANONYMOUS)
# BROKER_ARGS: more broker flags for one run (word-split).
args+=(${BROKER_ARGS:-})
start_broker() {
  "$bin" "${args[@]}" >>"$log" 2>&1 &
  echo $! >"$data.pid"
}
# The broker writes its index and checkpoint files while it shuts down, so the
# data directory is removed only once every broker on it (a restarted one is
# not our child) has exited.
cleanup() {
  pkill -f -- "--data-dir $data" 2>/dev/null || true
  for _ in $(seq 100); do pgrep -f -- "--data-dir $data" >/dev/null || break; sleep 0.1; done
  pkill -KILL -f -- "--data-dir $data" 2>/dev/null || true
  rm -rf "$data" "$data.pid" "$data.conf" "$log"
}
trap cleanup EXIT
start_broker
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
export BOOTSTRAP_SERVERS=127.0.0.1:$port
# Tests that run Kafka's kafka-topics.sh (0077) get runnel's stand-in for it.
export KAFKA_PATH=$root/tests/compat/kafka BROKERS=$BOOTSTRAP_SERVERS COMPAT_RUNNEL_BIN=$bin
# TEST_TIMEOUT_MULTIPLIER: scales the tests' own timeouts (librdkafka's
# test.timeout.multiplier), through a test.conf of ours.
if [ -n "${TEST_TIMEOUT_MULTIPLIER:-}" ]; then
  printf 'bootstrap.servers=%s\ntest.timeout.multiplier=%s\n' "$BOOTSTRAP_SERVERS" \
    "$TEST_TIMEOUT_MULTIPLIER" >"$data.conf"
  export RDKAFKA_TEST_CONF=$data.conf
fi
# A broker that died is reported and started again, so one crash fails one test.
export ON_BROKER_DOWN="echo '# broker died; log tail:' >&2; tail -20 '$log' >&2; '$bin' ${args[*]} >>'$log' 2>&1 &"
if [ $# -gt 0 ]; then "$compat" run "$@"; else "$compat" run "$root/tests/compat/librdkafka.txt"; fi
