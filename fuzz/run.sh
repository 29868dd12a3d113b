#!/bin/sh
# Runs one fuzz target for SECONDS (default 1800) on the stable toolchain, at the
# lowest CPU priority, with the committed seeds and a working corpus outside git:
#   fuzz/run.sh request 1800
# libFuzzer's final stats (execs, cov, ft) end the log, $FUZZ_RUNS/<target>.log;
# a crash is saved under fuzz/artifacts/<target>/.
set -eu
target=$1
seconds=${2:-1800}
runs=${FUZZ_RUNS:-/work/fuzz-runs}
cd "$(dirname "$0")"
mkdir -p "$runs/corpus/$target"
case $target in
    request) extra="-dict=dict/request.dict -max_len=16384" ;;
    log_recovery) extra="-max_len=65536" ;;
    *) extra="-max_len=16384" ;;
esac
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module);
# RUSTC_BOOTSTRAP lets the stable compiler take them.
RUSTC_BOOTSTRAP=1 exec nice -n 19 cargo fuzz run -O "$target" \
    "$runs/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 $extra >"$runs/$target.log" 2>&1
