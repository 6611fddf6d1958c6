#!/usr/bin/env bash
# The conformance requirement files run through the interop chain:
#   conformance_local.py -> dex-local-runner -> cargo lambda (Runtime API) -> conformance_fn
# conformance_fn (durable-tests) is durable_lambda::run over the conformance
# handlers, one process per requirement, named conf-<id>.
#
#   scripts/interop_conformance.sh                  # every id with a handler
#   scripts/interop_conformance.sh 1-1 2-1 4-1      # these ids
#
# Env: PEER_VENV (default target/peervenv; needs dex-local-runner, cargo-lambda and
# aws-durable-execution-conformance-tests, installed with
#   target/peervenv/bin/pip install --ignore-requires-python aws-durable-execution-conformance-tests),
# PEERS_DIR (../shared/peers), CONFORMANCE_DIR (../shared/conformance),
# BASELINE (PEERS_DIR/baseline_python_sdk_on_dex.json), MAX_WORKERS (4),
# KEEP_LOGS=1 (keep the log directory). Exit status: conformance_local.py's
# (0 when every failure is also the Python SDK's on this emulator).
#
# How the functions are served: `cargo lambda watch` only accepts function names that
# are binaries of the Cargo project it runs in, and the debug binary is ~200 MB, so
# instead of one binary per requirement cargo lambda runs with --only-lambda-apis
# over a catalog manifest (one [[bin]] name per function, never built) and each
# function is the prebuilt conformance_fn with AWS_LAMBDA_RUNTIME_API=.../.rt/<name>,
# the variables cargo lambda gives the functions it starts itself.
set -euo pipefail
set -m # every background job in its own process group
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${PEER_VENV:-$ROOT/target/peervenv}
PEERS=${PEERS_DIR:-$ROOT/../shared/peers}
REQS=${CONFORMANCE_DIR:-$ROOT/../shared/conformance}
BASELINE=${BASELINE:-$PEERS/baseline_python_sdk_on_dex.json}
for tool in "$VENV/bin/dex-local-runner" "$VENV/bin/cargo-lambda" "$VENV/bin/python"; do
  [ -x "$tool" ] || { echo "missing $tool: python3 -m venv target/peervenv && target/peervenv/bin/pip install aws-durable-execution-sdk-python-testing cargo-lambda pyyaml boto3 && target/peervenv/bin/pip install --ignore-requires-python aws-durable-execution-conformance-tests" >&2; exit 2; }
done
"$VENV/bin/python" -c 'import aws_durable_execution_conformance_tests' 2>/dev/null || {
  echo "missing the conformance package: $VENV/bin/pip install --ignore-requires-python aws-durable-execution-conformance-tests" >&2; exit 2; }

cargo build -q -p durable-tests --bin conformance_fn
FN=$ROOT/target/debug/conformance_fn
if [ $# -gt 0 ]; then IDS=("$@"); else mapfile -t IDS < <("$FN" --list); fi
mapfile -t TARGETS < <("$FN" --targets)

LOGS=$(mktemp -d -t interop-conformance.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs in $LOGS"; else rm -rf "$LOGS"; fi
}
trap cleanup EXIT

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DEX_PORT=$(free_port); WATCH_PORT=$(free_port)
export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-west-2 AWS_DEFAULT_REGION=us-west-2

# The catalog: the function names cargo lambda accepts.
mkdir -p "$LOGS/catalog"
echo 'fn main() {}' > "$LOGS/catalog/main.rs"
{
  printf '[package]\nname = "conformance-functions"\nversion = "0.0.0"\nedition = "2021"\nautobins = false\n\n[workspace]\n'
  for id in "${IDS[@]}"; do printf '\n[[bin]]\nname = "conf-%s"\npath = "main.rs"\n' "$id"; done
  for t in "${TARGETS[@]}"; do printf '\n[[bin]]\nname = "%s"\npath = "main.rs"\n' "$t"; done
} > "$LOGS/catalog/Cargo.toml"

# Chained-invoke targets must be declared to the emulator; ours are durable functions.
{
  printf '{'
  sep=''
  for t in "${TARGETS[@]}"; do
    printf '%s"%s": {"DurableConfig": {"ExecutionTimeout": 300, "RetentionPeriodInDays": 7}}' "$sep" "$t"; sep=', '
  done
  printf '}\n'
} > "$LOGS/function-configs.json"

(cd "$LOGS/catalog" && exec "$VENV/bin/cargo-lambda" lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --only-lambda-apis) \
  > "$LOGS/watch.log" 2>&1 &
PIDS+=($!); disown
"$VENV/bin/dex-local-runner" start-server --host 127.0.0.1 --port "$DEX_PORT" \
  --lambda-endpoint "http://127.0.0.1:$WATCH_PORT" --store-type memory \
  --function-configs "file://$LOGS/function-configs.json" > "$LOGS/dex.log" 2>&1 &
PIDS+=($!); disown
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$DEX_PORT/health" >/dev/null 2>&1 && grep -q 'starting Runtime server' "$LOGS/watch.log" && break
  sleep 0.2
done
grep -q 'starting Runtime server' "$LOGS/watch.log" || { cat "$LOGS/watch.log"; exit 1; }

start_function() { # name
  AWS_LAMBDA_FUNCTION_NAME=$1 AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$WATCH_PORT/.rt/$1" \
  AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$DEX_PORT" \
    "$FN" > "$LOGS/fn-$1.log" 2>&1 &
  PIDS+=($!); disown
}
MAP=()
for id in "${IDS[@]}"; do start_function "conf-$id"; MAP+=(--map "$id=conf-$id"); done
for t in "${TARGETS[@]}"; do start_function "$t"; done

started=$(date +%s%N)
status=0
"$VENV/bin/python" "$PEERS/conformance_local.py" --dex "http://127.0.0.1:$DEX_PORT" \
  --lambda-endpoint "http://127.0.0.1:$WATCH_PORT" --requirements-dir "$REQS" \
  --baseline "$BASELINE" --max-workers "${MAX_WORKERS:-4}" --language rust \
  "${MAP[@]}" "${IDS[@]}" || status=$?
echo "conformance through dex-local-runner + cargo lambda: ${#IDS[@]} requirements in $(( ($(date +%s%N) - started) / 1000000 )) ms"
exit $status
