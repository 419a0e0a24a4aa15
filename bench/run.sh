#!/usr/bin/env bash
# Load benchmark for POST /api/track with the durable spool on, next to a trivial Kestrel endpoint on the same
# machine. Needs wrk (apt-get install -y wrk). Everything runs on loopback and stops by itself.
#   bash bench/run.sh [duration-seconds] [connections]      (BATCH_SIZE=10000 bash bench/run.sh: fewer, larger objects)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20}
connections=${2:-32}
threads=2
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release TrackMulti.Api/TrackMulti.Api.csproj -v q -nologo >/dev/null
dotnet build -c Release TrackMulti.AppHost/TrackMulti.AppHost.csproj -v q -nologo >/dev/null   # installs s3rver
dotnet build -c Release bench/Baseline/TrackMulti.Bench.Baseline.csproj -v q -nologo >/dev/null

wait_for() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

# S3: s3rver on loopback, with the bucket.
NODE_OPTIONS=--openssl-legacy-provider node TrackMulti.AppHost/node_modules/s3rver/bin/s3rver.js \
  --directory "$work/s3" --address 127.0.0.1 --port 4599 --silent --configure-bucket bench-events &
pids+=($!)
wait_for http://127.0.0.1:4599/

# The Api as deployed: Release, spool on local disk, seed variables, logging at warnings only.
PORT=5290 SPOOL_DIR="$work/spool" S3_BUCKET_NAME=bench-events AWS_REGION=us-east-1 BATCH_SIZE=${BATCH_SIZE:-100} \
AWS_ENDPOINT_URL_S3=http://127.0.0.1:4599 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production RATE_LIMIT_PER_SECOND=0 \
  dotnet TrackMulti.Api/bin/Release/net10.0/TrackMulti.Api.dll >"$work/api.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:5290/alive

ASPNETCORE_URLS=http://127.0.0.1:5291 dotnet bench/Baseline/bin/Release/net10.0/TrackMulti.Bench.Baseline.dll >/dev/null 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:5291/

run() { # name url
  wrk -t"$threads" -c"$connections" -d5s -s bench/track.lua "$2/api/track" > "$work/$1-warmup.txt"   # JIT, connections
  echo "== $1: wrk -t$threads -c$connections -d${duration}s (Api: BATCH_SIZE=${BATCH_SIZE:-100})"
  wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s bench/track.lua "$2/api/track" | tee "$work/$1.txt" \
    | grep -E 'Requests/sec|^ +(50|75|90|99)%|requests in|Non-2xx'
}
requests() { cat "$@" | grep -Eo '^ +[0-9]+ requests in' | awk '{ total += $1 } END { print total }'; }
run baseline http://127.0.0.1:5291
run api http://127.0.0.1:5290

# Every acknowledged event must be in S3: flush, then count the stored lines.
curl -s -X POST http://127.0.0.1:5290/api/flush >/dev/null
stored=$(find "$work/s3/bench-events" -name '*._S3rver_object' -exec cat {} + | wc -l)
# wrk does not count the requests in flight when it stops (at most 2 x connections here), yet those are stored too.
echo "== events acknowledged by the Api (warm-up included): $(requests "$work/api-warmup.txt" "$work/api.txt"); lines stored in S3: $stored"
if grep -q Non-2xx "$work/api-warmup.txt" "$work/api.txt"; then echo "== some requests were refused (Non-2xx): they count as sent, not acknowledged"; fi
api=$(grep -Eo 'Requests/sec: +[0-9.]+' "$work/api.txt" | grep -Eo '[0-9.]+$')
base=$(grep -Eo 'Requests/sec: +[0-9.]+' "$work/baseline.txt" | grep -Eo '[0-9.]+$')
echo "== api / baseline requests/s: $(awk -v a="$api" -v b="$base" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
