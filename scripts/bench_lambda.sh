#!/usr/bin/env bash
# The "Lambda adapter" figures of BENCHMARKS.md, one release build at a time:
#   1. the size of the order example's bootstrap, as `cargo lambda build --release` makes it;
#   2. init time, process start to the first GET /runtime/invocation/next
#      (scripts/lambda_bench/bench.py init, a stub of the Runtime API);
#   3. per-invocation latency through `cargo lambda watch --release` of a bare
#      lambda_runtime echo and of the adapter (scripts/lambda_bench/bench.py watch).
# Needs cargo-lambda (with zig) in target/peervenv (see README), python3.
# RUNS (default 300) invocations per function, INIT_RUNS (default 30) starts per binary.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PEER_VENV:-$PWD/target/peervenv}
export PATH="$VENV/bin:$PATH" # cargo-lambda, and the python that has ziglang
BENCH_TARGET=${BENCH_TARGET:-/tmp/durable-lambda-bench-target}

echo "== 1. bootstrap of the order example"
cargo-lambda lambda build --release --x86-64 -p durable-examples --bin lambda_order
ls -l target/lambda/lambda_order/bootstrap
file target/lambda/lambda_order/bootstrap || true

echo "== 2. the bench functions (scripts/lambda_bench, release, built in $BENCH_TARGET)"
[ -f scripts/lambda_bench/Cargo.lock ] || cp Cargo.lock scripts/lambda_bench/Cargo.lock
CARGO_TARGET_DIR=$BENCH_TARGET cargo build --release --manifest-path scripts/lambda_bench/Cargo.toml

echo "== 3. init time"
python3 scripts/lambda_bench/bench.py init --runs "${INIT_RUNS:-30}" \
  target/lambda/lambda_order/bootstrap \
  "$BENCH_TARGET/release/bare_echo" "$BENCH_TARGET/release/durable_echo"

echo "== 4. per invocation, through cargo lambda watch"
CARGO_TARGET_DIR=$BENCH_TARGET python3 scripts/lambda_bench/bench.py watch --runs "${RUNS:-300}"
