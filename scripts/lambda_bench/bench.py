#!/usr/bin/env python3
"""Measures the Lambda adapter for BENCHMARKS.md ("Lambda adapter").

init   Time from process start to ready for the first event: each binary is
       started with AWS_LAMBDA_RUNTIME_API pointing at a stub of the Lambda
       Runtime API served here, and the clock stops when its first
       `GET /2018-06-01/runtime/invocation/next` arrives. Lambda's own part of
       a cold start (fetching the code, starting the sandbox) is not in it.

watch  Per-invocation latency through `cargo lambda watch --release` (the
       Invoke API on 127.0.0.1) of the functions of this crate: bare_echo (a
       plain lambda_runtime function), durable_echo (the adapter, no
       checkpoint) and durable_step (the adapter, one step checkpointed to a
       stub of CheckpointDurableExecution served here). Invocations go round
       robin, one at a time, after warm-up ones; the difference of medians is
       the adapter's overhead.

Only the standard library; everything binds 127.0.0.1. Processes started here
are stopped by their own ids (cargo lambda watch by its process group).
"""

import argparse
import http.client
import http.server
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a runtime killed mid-request is expected


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one send, with TCP_NODELAY: written in two, they
    # meet the client's delayed ACK and every answer waits 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        head = "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (
            status, self.responses.get(status, ("",))[0], len(data))
        self.wfile.write(head.encode() + data)


def serve(handler):
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def summary(samples_ms):
    s = sorted(samples_ms)
    return {
        "n": len(s),
        "min": s[0],
        "median": statistics.median(s),
        "p90": s[min(len(s) - 1, int(len(s) * 0.9))],
        "max": s[-1],
        "over_20ms": sum(1 for x in s if x > 20),
    }


def fmt(stats):
    return "min {min:.2f} / median {median:.2f} / p90 {p90:.2f} / max {max:.2f} ms (n={n}, {over_20ms} over 20 ms)".format(**stats)


# ---------------------------------------------------------------- init time


def measure_init(binary, runs, timeout):
    arrived = queue.Queue()
    release = threading.Event()

    class RuntimeApi(Quiet):
        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                arrived.put(time.perf_counter())
                release.wait(timeout)  # hold the long poll until the process is gone
                return
            self.reply(404, {})

    server = serve(RuntimeApi)
    home = tempfile.mkdtemp(prefix="lambda-bench-home-")  # no ~/.aws files, as on Lambda
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % server.server_address[1],
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(binary),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
    }
    samples = []
    try:
        for _ in range(runs):
            release.clear()
            start = time.perf_counter()
            proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                ready = arrived.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                proc.wait()
                raise SystemExit("%s never asked for an event within %s s" % (binary, timeout))
            samples.append((ready - start) * 1000)
            proc.kill()
            proc.wait()
            release.set()
    finally:
        release.set()
        server.shutdown()
    return samples


def spawn_floor(runs):
    """Start-to-exit of /bin/true: what starting any process costs here."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def cmd_init(args):
    results = {"spawn /bin/true": summary(spawn_floor(args.runs))}
    print("%-28s %s" % ("spawn /bin/true", fmt(results["spawn /bin/true"])))
    for binary in args.binaries:
        measure_init(binary, 2, args.timeout)  # page cache warm, as for a second cold start
        stats = summary(measure_init(binary, args.runs, args.timeout))
        size = os.path.getsize(binary)
        results[binary] = dict(stats, bytes=size)
        print("%-28s %s  [%s, %.1f MiB]" % (os.path.basename(os.path.dirname(binary)) + "/" + os.path.basename(binary), fmt(stats), binary, size / 2**20))
    if args.json:
        print(json.dumps(results, indent=2))


# ----------------------------------------------------------- cargo lambda watch


class CheckpointStub(Quiet):
    """CheckpointDurableExecution / GetDurableExecutionState, always accepting."""

    count = 0
    lock = threading.Lock()

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with CheckpointStub.lock:
            CheckpointStub.count += 1
            n = CheckpointStub.count
        ends = any(u.get("Type") == "EXECUTION" for u in body.get("Updates", []))
        self.reply(200, {} if ends else {"CheckpointToken": "token-%d" % n})

    def do_GET(self):
        self.reply(200, {"Operations": []})


def envelope(function, payload):
    execution_id = uuid.uuid4().hex
    return {
        "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:%s:$LATEST"
        "/durable-execution/bench/%s" % (function, execution_id),
        "CheckpointToken": "token-0",
        "InitialExecutionState": {
            "NextMarker": "",
            "Operations": [
                {
                    "Id": execution_id,
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": int(time.time() * 1000),
                    "ExecutionDetails": {"InputPayload": json.dumps(payload)},
                }
            ],
        },
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(conn, function, payload):
    body = json.dumps(envelope(function, payload)).encode()
    start = time.perf_counter()
    conn.request("POST", "/2015-03-31/functions/%s/invocations" % function, body, {"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise SystemExit("%s: HTTP %s %s" % (function, response.status, data[:300]))
    output = json.loads(data)
    if output.get("Status") != "SUCCEEDED" or json.loads(output["Result"]) != payload:
        raise SystemExit("%s answered %s" % (function, data[:300]))
    return elapsed


def cmd_watch(args):
    stub = serve(CheckpointStub)
    port = free_port()
    log_path = os.path.join(tempfile.mkdtemp(prefix="lambda-bench-watch-"), "watch.log")
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", args.target_dir)
    command = [
        args.cargo_lambda, "lambda", "watch", "--release", "-A", "127.0.0.1", "-P", str(port),
        "--env-var",
        "AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:%d,AWS_REGION=us-east-1,"
        "AWS_ACCESS_KEY_ID=bench,AWS_SECRET_ACCESS_KEY=bench" % stub.server_address[1],
    ]
    with open(log_path, "w") as log:
        watch = subprocess.Popen(command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    print("cargo lambda watch on 127.0.0.1:%d (log %s)" % (port, log_path), file=sys.stderr)
    try:
        deadline = time.time() + 60
        while "starting Runtime server" not in open(log_path).read():
            if watch.poll() is not None or time.time() > deadline:
                raise SystemExit("cargo lambda watch did not start:\n" + open(log_path).read())
            time.sleep(0.2)
        payload = {"order_id": "o-1001", "items": [1, 2, 3]}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for function in args.functions:
            print("warming %s (the first call builds it)" % function, file=sys.stderr)
            for _ in range(args.warmup):
                invoke(conn, function, payload)
        before = CheckpointStub.count
        samples = {f: [] for f in args.functions}
        for _ in range(args.runs):
            for function in args.functions:
                samples[function].append(invoke(conn, function, payload))
        checkpoints = CheckpointStub.count - before
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        try:
            watch.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait()
        stub.shutdown()
    results = {f: summary(s) for f, s in samples.items()}
    for function, stats in results.items():
        print("%-14s %s" % (function, fmt(stats)))
    base = results.get("bare_echo")
    if base:
        for function, stats in results.items():
            if function != "bare_echo":
                print("%-14s median overhead vs bare_echo: %+.2f ms (min %+.2f ms)" % (
                    function, stats["median"] - base["median"], stats["min"] - base["min"]))
    print("checkpoint requests during the timed runs: %d (%.2f per durable_step invocation)" % (
        checkpoints, checkpoints / max(1, args.runs) if "durable_step" in args.functions else 0))
    if args.json:
        print(json.dumps(results, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="process start to first GET /next")
    init.add_argument("binaries", nargs="+")
    init.add_argument("--runs", type=int, default=30)
    init.add_argument("--timeout", type=float, default=10)
    init.add_argument("--json", action="store_true")
    watch = sub.add_parser("watch", help="per-invocation latency through cargo lambda watch")
    watch.add_argument("--functions", nargs="+", default=["bare_echo", "durable_echo", "durable_step"])
    watch.add_argument("--runs", type=int, default=300)
    watch.add_argument("--warmup", type=int, default=20)
    watch.add_argument("--timeout", type=float, default=1800, help="per request; the first one compiles")
    watch.add_argument("--cargo-lambda", default=os.path.join(REPO, "target/peervenv/bin/cargo-lambda"))
    watch.add_argument("--target-dir", default="/tmp/durable-lambda-bench-target")
    watch.add_argument("--json", action="store_true")
    args = parser.parse_args()
    {"init": cmd_init, "watch": cmd_watch}[args.command](args)


if __name__ == "__main__":
    main()
