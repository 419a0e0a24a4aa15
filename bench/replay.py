#!/usr/bin/env python3
"""Replay throughput next to live forwarding of the same events, side by side in each round (docs/performance.md).

Each round: 50,000 events reach S3 while a loopback FME stand-in answers 503, so they wait in the FME sink's backlog;
then the stand-in answers 200 and the live sink forwards the backlog (the yardstick); then POST /api/replay sends the
same window again from S3. Printed per round and as medians: events per second from the first post FME accepted to the
last, and the Api's CPU per event, for both, and their ratio. Needs the Release build of the Api and s3rver (built by
TrackMulti.AppHost). Everything runs on loopback and stops by itself.
    python3 bench/replay.py [rounds, default 3] [events per round, default 50000]
"""
import datetime, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp()
ticks = os.sysconf("SC_CLK_TCK")


class Fme:
    answer = 503
    accepted = 0
    first = last = None
    lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as FME's API

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = Fme.answer
        if status == 200:
            rows = len(json.loads(body))
            with Fme.lock:
                now = time.monotonic()
                Fme.first = Fme.first or now
                Fme.last = now
                Fme.accepted += rows
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def request(method, url, body=None, content_type="application/json"):
    data = None if body is None else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="milliseconds")


def wait_for(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"no answer from {url}")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def until(condition, what, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out: {what}")
        time.sleep(0.05)


def measure(api_pid, expected):
    """Events per second between the first and the last accepted post, and Api CPU seconds per event."""
    with Fme.lock:
        Fme.accepted, Fme.first, Fme.last = 0, None, None
    cpu_before = cpu(api_pid)
    return lambda: (expected / (Fme.last - Fme.first), (cpu(api_pid) - cpu_before) / expected)


processes = []
try:
    subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(root, "TrackMulti.Api/TrackMulti.Api.csproj"), "-v", "q", "-nologo"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["dotnet", "build", "-c", "Release", os.path.join(root, "TrackMulti.AppHost/TrackMulti.AppHost.csproj"), "-v", "q", "-nologo"], check=True, stdout=subprocess.DEVNULL)
    fme = ThreadingHTTPServer(("127.0.0.1", 4697), Handler)
    threading.Thread(target=fme.serve_forever, daemon=True).start()
    processes.append(subprocess.Popen(
        ["node", os.path.join(root, "TrackMulti.AppHost/node_modules/s3rver/bin/s3rver.js"), "--directory", os.path.join(work, "s3"),
         "--address", "127.0.0.1", "--port", "4696", "--silent", "--configure-bucket", "bench-replay"],
        env={**os.environ, "NODE_OPTIONS": "--openssl-legacy-provider"}))
    wait_for("http://127.0.0.1:4696/")
    api_env = {**os.environ, "PORT": "5294", "SPOOL_DIR": os.path.join(work, "spool"), "S3_BUCKET_NAME": "bench-replay",
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:4696", "AWS_ACCESS_KEY_ID": "S3RVER",
               "AWS_SECRET_ACCESS_KEY": "S3RVER", "ASPNETCORE_ENVIRONMENT": "Production", "Logging__LogLevel__Default": "Warning",
               "RATE_LIMIT_PER_SECOND": "0", "BATCH_SIZE": "1000", "SPOOL_SYNC": "interval", "FME_FORWARD": "all",
               "HARNESS_FME_SERVER_KEY": "bench-key", "FME_EVENTS_URL": "http://127.0.0.1:4697/api", "FME_PAUSE_MAX_SECONDS": "1",
               "FME_RETRY_BASE_DELAY_MS": "10"}
    api = subprocess.Popen(["dotnet", os.path.join(root, "TrackMulti.Api/bin/Release/net10.0/TrackMulti.Api.dll")], env=api_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(api)
    base = "http://127.0.0.1:5294"
    wait_for(base + "/alive")

    results = []
    for round_number in range(rounds + 1):  # the first round warms the JIT up and is not counted
        Fme.answer = 503
        start = time.time()
        for batch in range(per_round // 1000):
            events = [{"name": "replay_bench", "key": f"user-{n}", "value": 1, "properties": {"round": round_number, "n": n}}
                      for n in range(batch * 1000, batch * 1000 + 1000)]
            status, _ = request("POST", base + "/api/batch", json.dumps(events))
            assert status == 200, status
        assert request("POST", base + "/api/flush")[0] == 200
        end = time.time()

        done = measure(api.pid, per_round)
        Fme.answer = 200
        until(lambda: Fme.accepted >= per_round, "live forwarding")
        live = done()

        window = {"sink": "fme", "from": iso(start), "to": iso(end)}
        done = measure(api.pid, per_round)
        status, replay = request("POST", base + "/api/replay", json.dumps(window))
        assert status == 202, (status, replay)
        until(lambda: request("GET", base + f"/api/replay/{replay['id']}")[1]["state"] != "running", "the replay")
        final = request("GET", base + f"/api/replay/{replay['id']}")[1]
        assert final["state"] == "done" and final["events"] == per_round, final
        replayed = done()
        if round_number > 0:
            results.append((live, replayed))
            print(f"round {round_number}: live {live[0]:8.0f} ev/s {live[1] * 1e6:6.1f} us CPU/ev | "
                  f"replay {replayed[0]:8.0f} ev/s {replayed[1] * 1e6:6.1f} us CPU/ev | ratio {replayed[0] / live[0]:.2f}x, CPU {replayed[1] / live[1]:.2f}x")

    print(f"median over {rounds} rounds of {per_round} events: "
          f"live {statistics.median(r[0][0] for r in results):.0f} ev/s, {statistics.median(r[0][1] for r in results) * 1e6:.1f} us CPU/ev; "
          f"replay {statistics.median(r[1][0] for r in results):.0f} ev/s, {statistics.median(r[1][1] for r in results) * 1e6:.1f} us CPU/ev; "
          f"replay/live {statistics.median(r[1][0] / r[0][0] for r in results):.2f}x ev/s, "
          f"{statistics.median(r[1][1] / r[0][1] for r in results):.2f}x CPU per event")
finally:
    for process in processes:
        process.kill()
        process.wait()
    shutil.rmtree(work, ignore_errors=True)
