#!/usr/bin/env bash
# Throughput of the Api next to a trivial Kestrel endpoint, side by side in one run (docs/performance.md):
#   trivial endpoint | POST /api/track, SPOOL_SYNC=always | POST /api/track, SPOOL_SYNC=interval | POST /api/batch (100 events)
#   | the trivial server's /api/batch, which only reads and parses the same body (the batch run's yardstick)
# Rounds interleave the four, so the machine's drift hits them alike; the medians are printed, as ratios to the trivial
# endpoint of the same round, with p50/p99 and CPU per event: the Api's, s3rver's and the whole machine's (wrk too).
# Each run starts once both Apis have uploaded what the runs before left. Then every acknowledged event must be in S3.
# Needs wrk (apt-get install -y wrk). Everything runs on loopback and stops by itself.
#   bash bench/run.sh [seconds per run, default 10] [rounds, default 3] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}; rounds=${2:-3}; connections=${3:-32}; threads=2
batch_size=${BATCH_SIZE:-1000}
work=$(mktemp -d); pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
dotnet build -c Release TrackMulti.Api/TrackMulti.Api.csproj -v q -nologo >/dev/null
dotnet build -c Release TrackMulti.AppHost/TrackMulti.AppHost.csproj -v q -nologo >/dev/null   # installs s3rver
dotnet build -c Release bench/Baseline/TrackMulti.Bench.Baseline.csproj -v q -nologo >/dev/null

wait_for() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

NODE_OPTIONS=--openssl-legacy-provider node TrackMulti.AppHost/node_modules/s3rver/bin/s3rver.js --directory "$work/s3" \
  --address 127.0.0.1 --port 4599 --silent --configure-bucket bench-always --configure-bucket bench-interval &
s3rver_pid=$!; pids+=($!)
wait_for http://127.0.0.1:4599/

declare -A url pid
start_api() { # name port spool-sync
  PORT=$2 SPOOL_DIR="$work/spool-$1" S3_BUCKET_NAME="bench-$3" AWS_REGION=us-east-1 BATCH_SIZE=$batch_size SPOOL_SYNC=$3 \
  AWS_ENDPOINT_URL_S3=http://127.0.0.1:4599 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production RATE_LIMIT_PER_SECOND=0 \
    dotnet TrackMulti.Api/bin/Release/net10.0/TrackMulti.Api.dll >"$work/api-$1.log" 2>&1 &
  pid[$1]=$!; pids+=($!); url[$1]=http://127.0.0.1:$2
  wait_for "${url[$1]}/alive"
}
start_api always 5290 always
start_api interval 5292 interval
ASPNETCORE_URLS=http://127.0.0.1:5291 dotnet bench/Baseline/bin/Release/net10.0/TrackMulti.Bench.Baseline.dll >/dev/null 2>&1 &
pid[trivial]=$!; pids+=($!); url[trivial]=http://127.0.0.1:5291
wait_for "${url[trivial]}/"

# name  server  path  script  events-per-request
runs=("trivial trivial /api/track track.lua 1" "track-always always /api/track track.lua 1"
      "track-interval interval /api/track track.lua 1" "batch-always always /api/batch batch.lua 100"
      "batch-parse trivial /api/batch batch.lua 100")
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }   # the machine: user, nice, system, irq, softirq
ticks=$(getconf CLK_TCK)
declare -A acknowledged=([always]=0 [interval]=0)

# Before each run, both Apis' uploads catch up, so no run shares the cores with the backlog an earlier run left.
awaiting() { curl -s "$1/api/status" | grep -Eo '"batchesAwaitingUpload":[0-9]+' | grep -Eo '[0-9]+$'; }
settle() { for _ in $(seq 1 600); do [ "$(awaiting "${url[always]}")" = 0 ] && [ "$(awaiting "${url[interval]}")" = 0 ] && return 0; sleep 0.2; done
           echo "uploads did not catch up within 120 s" >&2; exit 1; }

for spec in "${runs[@]}"; do   # warm-up: the JIT settles after ~20 s of load
  set -- $spec; wrk -t$threads -c"$connections" -d10s -s "bench/$4" "${url[$2]}$3" >/dev/null
done
for round in $(seq 1 "$rounds"); do
  for spec in "${runs[@]}"; do
    set -- $spec
    settle
    before=$(cpu "${pid[$2]}"); s3_before=$(cpu "$s3rver_pid"); busy_before=$(busy)
    wrk -t$threads -c"$connections" -d"${duration}s" --latency -s "bench/$4" "${url[$2]}$3" > "$work/$1-$round.txt"
    after=$(cpu "${pid[$2]}"); s3_after=$(cpu "$s3rver_pid"); busy_after=$(busy)
    requests=$(grep -Eo '^ +[0-9]+ requests in' "$work/$1-$round.txt" | grep -Eo '[0-9]+')
    refused=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' "$work/$1-$round.txt" | grep -Eo '[0-9]+$' || echo 0)
    [ "$2" = trivial ] || acknowledged[$2]=$(( ${acknowledged[$2]} + (requests - refused) * $5 ))
    awk -v name="$1" -v round="$round" -v n="$requests" -v e="$5" -v d="$duration" -v cpu=$((after - before)) -v hz="$ticks" \
      -v s3=$((s3_after - s3_before)) -v machine=$((busy_after - busy_before)) \
      -v p50="$(grep -E '^ +50%' "$work/$1-$round.txt" | awk '{print $2}')" -v p99="$(grep -E '^ +99%' "$work/$1-$round.txt" | awk '{print $2}')" \
      'BEGIN { printf "%s %d %.0f %.0f %s %s %.2f %.2f %.2f\n", name, round, n / d, n * e / d, p50, p99,
               cpu * 1e6 / hz / (n * e), s3 * 1e6 / hz / (n * e), machine * 1e6 / hz / (n * e) }' >> "$work/results.txt"
  done
done

echo "== $rounds rounds of ${duration}s, wrk -t$threads -c$connections, BATCH_SIZE=$batch_size, medians (ratio: to the trivial endpoint in the same round)"
printf "%-15s %10s %10s %7s %9s %9s %13s %16s %17s\n" run "req/s" "events/s" ratio p50 p99 "Api µs/event" "s3rver µs/event" "machine µs/event"
for spec in "${runs[@]}"; do
  set -- $spec
  awk -v name="$1" '
    FNR == NR { if ($1 == "trivial") trivial[$2] = $3; next }
    $1 == name { n++; rps[n] = $3; eps[n] = $4; ratio[n] = $3 / trivial[$2]; p50[n] = $5; p99[n] = $6; cpu[n] = $7; s3[n] = $8; machine[n] = $9 }
    function median(a, count,   i, j, t, s) { for (i = 1; i <= count; i++) s[i] = a[i]
      for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (s[j] + 0 < s[i] + 0) { t = s[i]; s[i] = s[j]; s[j] = t }
      return count % 2 ? s[(count + 1) / 2] : (s[count / 2] + s[count / 2 + 1]) / 2 }
    function ms(v) { return v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
    END { for (i = 1; i <= n; i++) { p50[i] = ms(p50[i]); p99[i] = ms(p99[i]) }
      printf "%-15s %10.0f %10.0f %6.2fx %7.2fms %7.2fms %13s %16.1f %17.1f\n", name, median(rps, n), median(eps, n), median(ratio, n),
        median(p50, n), median(p99, n), name == "trivial" ? "-" : sprintf("%.1f", median(cpu, n)), median(s3, n), median(machine, n) }' \
    "$work/results.txt" "$work/results.txt"
done

awk 'FNR == NR { if ($1 == "batch-parse") parse[$2] = $4; next }
     $1 == "batch-always" { n++; r[n] = $4 / parse[$2] }
     END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
           printf "== batch-always events/s to batch-parse events/s (same round), median: %.2fx\n", n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2 }' \
  "$work/results.txt" "$work/results.txt"

# Every acknowledged event must be in S3: flush each Api, then count the stored lines. wrk does not count the requests
# in flight when it stops (at most one per connection), yet those are stored too: stored may exceed acknowledged.
for api in always interval; do
  curl -s -X POST "${url[$api]}/api/flush" >/dev/null
  stored=$(find "$work/s3/bench-$api" -name '*._S3rver_object' -exec cat {} + | wc -l)
  verdict=$([ "$stored" -ge "${acknowledged[$api]}" ] && echo ok || echo MISSING)
  echo "== SPOOL_SYNC=$api: events acknowledged (warm-up excluded) ${acknowledged[$api]}, lines in S3 $stored (warm-up included): $verdict"
done
