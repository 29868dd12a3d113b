#!/usr/bin/env bash
# Builds the runnel image from scratch, pulling nothing:
#   1. a static glibc build of runnel (crt-static, so it runs on an empty image),
#      with the dist profile (fat LTO: a smaller binary, less of it resident);
#   2. a build context of just that binary (stripped) and an empty data dir;
#   3. docker build with docker/Dockerfile.
#
#   docker/build.sh              tags runnel:latest
#   docker/build.sh runnel:dev   another tag
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-runnel:latest}"
target=x86_64-unknown-linux-gnu
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile dist --locked --target "$target" --bin runnel

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$target_dir/$target/dist/runnel" "$context/runnel"
strip "$context/runnel"
mkdir "$context/data"
docker build --quiet -t "$tag" -f docker/Dockerfile "$context" >/dev/null
docker image inspect "$tag" --format "built $tag: {{.Size}} bytes"
