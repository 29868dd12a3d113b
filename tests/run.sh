#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the real-client
# tests (kafka-python, confluent-kafka, aiokafka, kcat) against the release
# binary and the docker image, then librdkafka's own integration tests
# (tests/compat/librdkafka.txt).
# Installs what it needs: kcat with apt-get, the Python clients into .venv.
#
#   tests/run.sh                 everything
#   SKIP_COMPAT=1 tests/run.sh   leave out the librdkafka suite
#   tests/run.sh -k codec        extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

if ! command -v kcat >/dev/null 2>&1; then
  step "installing kcat"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq kcat >/dev/null
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
fi
