#!/usr/bin/env bash
# How fast the S3 sink empties a backlog on its own, and what each object costs the Api and s3rver (docs/performance.md).
# With s3rver paused, /api/batch load fills the spool; then s3rver resumes and the backlog drains with nothing else
# running. Each UPLOAD_CONCURRENCY given is run twice in one Api process: a pass that warms the JIT, then the one printed.
# Needs wrk (apt-get install -y wrk).
#   bash bench/drain.sh [seconds of load per pass, default 8] [UPLOAD_CONCURRENCY values, default "1 4"]
set -euo pipefail
cd "$(dirname "$0")/.."
fill=${1:-8}; concurrencies=${2:-1 4}
work=$(mktemp -d); pids=()
cleanup() { kill -CONT "${s3rver_pid:-0}" 2>/dev/null || true; for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release TrackMulti.Api/TrackMulti.Api.csproj -v q -nologo >/dev/null
dotnet build -c Release TrackMulti.AppHost/TrackMulti.AppHost.csproj -v q -nologo >/dev/null   # installs s3rver

wait_for() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }
NODE_OPTIONS=--openssl-legacy-provider node TrackMulti.AppHost/node_modules/s3rver/bin/s3rver.js --directory "$work/s3" \
  --address 127.0.0.1 --port 4598 --silent --configure-bucket bench-drain &
s3rver_pid=$!; pids+=($!)
wait_for http://127.0.0.1:4598/

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
awaiting() { curl -s http://127.0.0.1:5298/api/status | grep -Eo '"batchesAwaitingUpload":[0-9]+' | grep -Eo '[0-9]+$'; }
ticks=$(getconf CLK_TCK)
echo "== BATCH_SIZE=1000, /api/batch with 100 events per request for ${fill}s while S3 is paused, then the drain alone"
for concurrency in $concurrencies; do
  UPLOAD_CONCURRENCY=$concurrency PORT=5298 SPOOL_DIR="$work/spool-$concurrency" S3_BUCKET_NAME=bench-drain AWS_REGION=us-east-1 \
  BATCH_SIZE=1000 SPOOL_MAX_BYTES=8589934592 AWS_ENDPOINT_URL_S3=http://127.0.0.1:4598 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production RATE_LIMIT_PER_SECOND=0 \
    dotnet TrackMulti.Api/bin/Release/net10.0/TrackMulti.Api.dll >"$work/api-$concurrency.log" 2>&1 &
  api_pid=$!; pids+=($!)
  wait_for http://127.0.0.1:5298/alive
  for pass in warm-up measured; do
    kill -STOP "$s3rver_pid"
    wrk -t2 -c32 -d"${fill}s" -s bench/batch.lua http://127.0.0.1:5298/api/batch >/dev/null
    objects=$(awaiting); api_before=$(cpu "$api_pid"); s3_before=$(cpu "$s3rver_pid"); started=$(date +%s.%N)
    kill -CONT "$s3rver_pid"
    while [ "$(awaiting)" -gt 0 ]; do sleep 0.2; done
    ended=$(date +%s.%N); api_after=$(cpu "$api_pid"); s3_after=$(cpu "$s3rver_pid")
    [ "$pass" = measured ] && awk -v c="$concurrency" -v n="$objects" -v t="$(echo "$ended - $started" | bc)" -v hz="$ticks" \
      -v api=$((api_after - api_before)) -v s3=$((s3_after - s3_before)) \
      'BEGIN { printf "UPLOAD_CONCURRENCY=%d: %d objects in %.1f s, %.0f objects/s; CPU per object: Api %.2f ms, s3rver %.2f ms\n",
               c, n, t, n / t, api * 1000 / hz / n, s3 * 1000 / hz / n }'
  done
  kill "$api_pid"; wait "$api_pid" 2>/dev/null || true
done
