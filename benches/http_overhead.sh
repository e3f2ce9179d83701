#!/usr/bin/env bash
# Whole-server throughput of the API metrics layer against bare axum and axum-prometheus.
#
#   benches/http_overhead.sh [ROUNDS] [SECONDS]
#
# Starts each variant of examples/http_bench pinned to core 0 (one worker thread), drives
# GET /hello/{id} with wrk pinned to core 1 over loopback, variants interleaved
# (bare noop-layer tmc tmc-outer axum-prometheus, bare ...), and prints per variant the median req/s, the
# median p99 latency, the median server CPU per request (utime+stime from /proc), and the
# ratio of each median to bare's, all from the same run. Requires wrk (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-5}
# A port nobody listens on (PORT=N to choose one), so two runs at once do not collide.
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --example http_bench
BIN=target/release/examples/http_bench
TICKS=$(getconf CLK_TCK)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"; [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq 1 "$ROUNDS"); do
  for variant in bare noop-layer tmc tmc-outer axum-prometheus; do
    taskset -c 0 "$BIN" --variant "$variant" --bind "127.0.0.1:$PORT" --worker-threads 1 2>/dev/null &
    SERVER=$!
    for _ in $(seq 1 100); do
      curl -fs "http://127.0.0.1:$PORT/hello/0" >/dev/null 2>&1 && break
      sleep 0.05
    done
    before=$(cpu_ticks "$SERVER")
    taskset -c 1 wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$PORT/hello/1" > "$OUT/wrk"
    after=$(cpu_ticks "$SERVER")
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk")
    reqs=$(awk '/requests in/ {print $1}' "$OUT/wrk")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$OUT/wrk")
    cpu_us=$(awk -v t="$((after - before))" -v hz="$TICKS" -v n="$reqs" 'BEGIN {printf "%.3f", t / hz * 1e6 / n}')
    echo "$variant $rps $p99 $cpu_us" >> "$OUT/results"
    echo "round $round $variant: $rps req/s, p99 ${p99} ms, ${cpu_us} us CPU/req" >&2
  done
done

python3 - "$OUT/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    v, rps, p99, cpu = line.split()
    rows.setdefault(v, []).append((float(rps), float(p99), float(cpu)))
med = {v: [statistics.median(x[i] for x in r) for i in range(3)] for v, r in rows.items()}
b = med["bare"]
print(f"{'variant':<16}{'req/s':>12}{'p99 ms':>10}{'CPU us/req':>12}{'req/s vs bare':>15}{'CPU vs bare':>13}")
for v in ["bare", "noop-layer", "tmc", "tmc-outer", "axum-prometheus"]:
    m = med[v]
    print(f"{v:<16}{m[0]:>12.0f}{m[1]:>10.3f}{m[2]:>12.3f}{m[0]/b[0]:>15.3f}{m[2]/b[2]:>13.3f}")
PY
