#!/usr/bin/env bash
# Interleaved A/B of the Api at two commits (docs/performance.md): each is built in a worktree of its own and started
# side by side (one s3rver); per round POST /api/track and the Api's own /alive (the yardstick: the same Kestrel,
# transport and middleware, no body, no append) run on A then B, on B then A the next round, each run once the
# uploads the one before left are done. Printed: every run, then the medians of the rounds' B ÷ A of req/s and of the
# Api's CPU per request. Needs wrk (apt-get install -y wrk). Everything runs on loopback and stops by itself.
#   bash bench/ab.sh <commit A> <commit B> [seconds per run, default 10] [rounds, default 6]
# SPOOL_SYNC (default interval) and BATCH_SIZE (default 1000) from the environment apply to both.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
a_rev=$(git rev-parse --short "$1"); b_rev=$(git rev-parse --short "$2")
duration=${3:-10}; rounds=${4:-6}; connections=32; threads=2
work=$(mktemp -d); pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true
  for side in a b; do git worktree remove --force "$work/$side" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
for side in a b; do
  rev=$([ $side = a ] && echo "$a_rev" || echo "$b_rev")
  git worktree add -q --detach "$work/$side" "$rev"
  dotnet build -c Release "$work/$side/TrackMulti.Api/TrackMulti.Api.csproj" -v q -nologo >/dev/null
done
dotnet build -c Release TrackMulti.AppHost/TrackMulti.AppHost.csproj -v q -nologo >/dev/null   # installs s3rver

wait_for() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

NODE_OPTIONS=--openssl-legacy-provider node TrackMulti.AppHost/node_modules/s3rver/bin/s3rver.js --directory "$work/s3" \
  --address 127.0.0.1 --port 4698 --silent --configure-bucket ab-a --configure-bucket ab-b &
pids+=($!)
wait_for http://127.0.0.1:4698/

declare -A url pid
start_api() { # side port
  PORT=$2 SPOOL_DIR="$work/spool-$1" S3_BUCKET_NAME="ab-$1" AWS_REGION=us-east-1 BATCH_SIZE=${BATCH_SIZE:-1000} \
  SPOOL_SYNC=${SPOOL_SYNC:-interval} AWS_ENDPOINT_URL_S3=http://127.0.0.1:4698 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production RATE_LIMIT_PER_SECOND=0 \
    dotnet "$work/$1/TrackMulti.Api/bin/Release/net10.0/TrackMulti.Api.dll" >"$work/api-$1.log" 2>&1 &
  pid[$1]=$!; pids+=($!); url[$1]=http://127.0.0.1:$2
  wait_for "${url[$1]}/alive"
}
start_api a 5394
start_api b 5396

awaiting() { curl -s "$1/api/status" | grep -Eo '"batchesAwaitingUpload":[0-9]+' | grep -Eo '[0-9]+$'; }
settle() {
  for _ in $(seq 1 600); do
    [ "$(awaiting "${url[a]}")" = 0 ] && [ "$(awaiting "${url[b]}")" = 0 ] && return 0; sleep 0.2
  done
  echo "uploads did not settle" >&2; exit 1
}
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
ticks=$(getconf CLK_TCK)
load() { # kind side seconds
  if [ "$1" = track ]; then wrk -t$threads -c$connections -d"$3s" -s bench/track.lua "${url[$2]}/api/track"
  else wrk -t$threads -c$connections -d"$3s" "${url[$2]}/alive"; fi
}
run() { # kind side round: prints kind side round req/s cpu-µs/req non-2xx
  settle
  local before after out requests bad
  before=$(cpu "${pid[$2]}"); out=$(load "$1" "$2" "$duration"); after=$(cpu "${pid[$2]}")
  requests=$(grep -Eo '^ +[0-9]+ requests in' <<<"$out" | grep -Eo '[0-9]+')
  bad=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+' <<<"$out" | grep -Eo '[0-9]+$' || echo 0)
  awk -v k="$1" -v s="$2" -v r="$3" -v n="$requests" -v d="$duration" -v c=$((after - before)) -v hz="$ticks" -v bad="$bad" \
    'BEGIN { printf "%s %s %d %.0f %.2f %d\n", k, s, r, n / d, c * 1e6 / hz / n, bad }' | tee -a "$work/runs.txt"
}

# The JIT compiles for ~20 s under load: warm both up first.
for side in a b; do load track $side 15 >/dev/null; load alive $side 5 >/dev/null; done
echo "kind side round req/s cpu-us/req non-2xx   (A = $a_rev, B = $b_rev, wrk -t$threads -c$connections, ${duration}s)"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="a b"; else order="b a"; fi
  for kind in track alive; do for side in $order; do run $kind $side "$round"; done; done
done

echo "== B ÷ A, median of $rounds rounds (and the rounds' range)"
for kind in track alive; do
  awk -v k=$kind '$1 == k { rps[$2, $3] = $4; cpu[$2, $3] = $5; if ($3 > n) n = $3 }
    function med(x, c,   i, j, t) { for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
      return c % 2 ? x[(c + 1) / 2] : (x[c / 2] + x[c / 2 + 1]) / 2 }
    END { for (r = 1; r <= n; r++) { q[r] = rps["b", r] / rps["a", r]; u[r] = cpu["b", r] / cpu["a", r] }
      lo = hi = q[1]; for (r = 2; r <= n; r++) { if (q[r] < lo) lo = q[r]; if (q[r] > hi) hi = q[r] }
      printf "%-5s req/s %.3f× (%.2f–%.2f)   CPU per request %.3f×\n", k, med(q, n), lo, hi, med(u, n) }' "$work/runs.txt"
done
errors=$(grep -h "fail:\|crit:" "$work"/api-*.log | head -5 || true)
if [ -n "$errors" ]; then echo "the Apis logged errors:" >&2; echo "$errors" >&2; fi
