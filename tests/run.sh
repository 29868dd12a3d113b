#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the real-client
# tests (kafka-python, confluent-kafka, aiokafka, kcat) against the release
# binary and the docker image, then librdkafka's own integration tests
# (tests/compat/librdkafka.txt).
# Installs what it needs: kcat, chromium and chromium-driver with apt-get, the
# Python clients and selenium into .venv. Console screenshots land in
# test-artifacts/console (TEST_ARTIFACTS overrides the first part).
#
#   tests/run.sh                 everything
#   SKIP_COMPAT=1 tests/run.sh   leave out the librdkafka suite
#   tests/run.sh -k codec        extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

# kcat, openssl (test_tls.py makes its certificates with it), and chromium
# with its driver for the console's browser tests.
missing=""
command -v kcat >/dev/null 2>&1 || missing="$missing kcat"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
  step "installing$missing"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

step "python clients (.venv)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/clients/requirements.txt

step "cargo test (release)"
cargo build --release --locked
cargo test --release --locked

if docker info >/dev/null 2>&1; then
  step "docker image (docker/build.sh runnel:test)"
  docker/build.sh runnel:test
  export TEST_RUNNEL_IMAGE=runnel:test
else
  step "no docker image: \`docker info\` fails, so tests/clients/test_docker.py is skipped"
fi

step "client tests"
TEST_RUNNEL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/runnel" .venv/bin/python -m pytest -q tests/clients "$@"

if [ -z "${SKIP_COMPAT:-}" ] && [ -f tests/compat/librdkafka.txt ]; then
  step "librdkafka integration tests"
  tests/compat/run-librdkafka.sh
  step "librdkafka group tests with the consumer group protocol (KIP-848)"
  TEST_CONSUMER_GROUP_PROTOCOL=consumer tests/compat/run-librdkafka.sh tests/compat/librdkafka-consumer-protocol.txt
  # 0059 (binary search by timestamp) seeks ten times; after each message
  # librdkafka may hold its next fetch for fetch.queue.backoff.ms (1 s), as
  # the test sets queued.min.messages=1, so it takes 0-11 s against any broker
  # and its own timeout is 10 s.
  step "librdkafka test 0059 (timeouts doubled)"
  TEST_TIMEOUT_MULTIPLIER=2 tests/compat/run-librdkafka.sh 0059
  # 0081 (the admin suite) as against Kafka 4.0, which has group configs
  # (KIP-848); its fixed sleeps add up to about 3 minutes, its own timeout.
  step "librdkafka admin test 0081 (Kafka 4.0 behaviour)"
  TEST_KAFKA_VERSION=4.0.0 QUICK=0 TEST_TIMEOUT_MULTIPLIER=2 TEST_TIMEOUT=600 \
    BROKER_ARGS="--set group.initial_rebalance_delay_ms=0" tests/compat/run-librdkafka.sh 0081
fi
