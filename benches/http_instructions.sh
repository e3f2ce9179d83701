#!/usr/bin/env bash
# Server instructions per request under callgrind, with how repeatable each figure is.
#
#   benches/http_instructions.sh [A] [B] [REPS]      (VARIANTS="bare tmc" to pick some)
#
# Each run serves B requests of GET /hello/{id} over one keep-alive connection from one
# variant of examples/http_bench (one worker thread) under `valgrind --tool=callgrind`, and
# counts the instructions between the A-th and the B-th request (the example's `--mark A,B`
# calls `callgrind_mark`, and `--dump-after` dumps the counts there), divided by B - A: what
# (I(B) - I(A)) / (B - A) measures, without start-up or shutdown in either count (quanta's TSC
# calibration is bounded by wall-clock time, so its instruction count differs from run to run
# by millions). Defaults: A = 1000, B = 4000, REPS = 5. With ROUTES=2 the requests alternate
# between GET /hello/{id} and GET /bye/{id}, two routes of the same handler: what a layer
# costs when consecutive requests take different routes.
#
# The repetitions are interleaved (rep 1 of every variant, then rep 2, ...), so load on the
# machine falls on every variant alike; callgrind counts instructions, so load changes the
# wall time, not the figures. Per variant it prints the minimum over the runs, the spread
# (maximum - minimum) and the ratio of the minimum to bare's.
# Requires valgrind (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:-1000}
B=${2:-4000}
REPS=${3:-5}
# A port nobody listens on (PORT=N to choose one), so two runs at once do not collide.
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
[ "$A" -gt 0 ] && [ "$B" -gt "$A" ] || { echo "need 0 < A < B (got A=$A B=$B)" >&2; exit 1; }
case "${ROUTES:-1}" in 1|2) ;; *) echo "ROUTES is 1 or 2 (got ${ROUTES})" >&2; exit 1 ;; esac
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
cargo build --release --quiet --example http_bench
BIN=target/release/examples/http_bench
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

client() { # send $1 requests over one keep-alive connection
  python3 - "$PORT" "$1" "${ROUTES:-1}" <<'PY'
import http.client, sys, time
port, n, routes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = ["/hello", "/bye"][:routes]
for _ in range(600):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port); conn.connect(); break
    except OSError:
        time.sleep(0.1)
for i in range(n):
    conn.request("GET", f"{paths[i % len(paths)]}/{i}")
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
conn.close()
PY
}

per_request() { # variant: instructions per request between the A-th and the B-th request
  local out="$OUT/cg.$1"
  rm -f "$out" "$out".*
  valgrind --tool=callgrind --dump-after='*callgrind_mark*' --callgrind-out-file="$out" \
    "$BIN" --variant "$1" --bind "127.0.0.1:$PORT" --worker-threads 1 --exit-after "$B" \
    --mark "$A,$B" 2>/dev/null &
  local server=$!
  client "$B"
  wait "$server"
  # Dump 1 ends at the A-th request, dump 2 at the B-th: dump 2 is the window.
  [ -f "$out.2" ] || { echo "no second callgrind dump for $1 (is callgrind_mark in the binary?)" >&2; exit 1; }
  awk -v n=$((B - A)) '/^summary:/ {printf "%.1f\n", $2 / n}' "$out.2"
}

VARIANTS=${VARIANTS:-bare noop-layer tmc tmc-nospans tmc-outer axum-prometheus}
declare -A RUNS
for rep in $(seq 1 "$REPS"); do
  for variant in $VARIANTS; do
    RUNS[$variant]="${RUNS[$variant]:-} $(per_request "$variant")"
  done
done

declare -A PER
printf "%-16s%14s%10s%10s   %s\n" variant "instr/request" spread "vs bare" "runs"
for variant in $VARIANTS; do
  read -r min max < <(tr ' ' '\n' <<<"${RUNS[$variant]}" | awk 'NF {
    if (min == "" || $1 < min) min = $1; if (max == "" || $1 > max) max = $1 } END {print min, max}')
  PER[$variant]=$min
  [ "$variant" = bare ] && BARE=$min
  printf "%-16s%14.1f%10.1f%10s  %s\n" "$variant" "$min" "$(awk -v a="$max" -v b="$min" 'BEGIN {print a - b}')" \
    "$(awk -v a="$min" -v b="${BARE:-$min}" 'BEGIN {printf "%.3f", a / b}')" "${RUNS[$variant]}"
done
diff_of() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a - b}'; }
# The API layer's own cost: over a layer that does nothing, in the same build (target: at
# most 500), and outer mode over bare (it adds no per-route layer to compare with; target:
# at most 5% of bare).
if [ -n "${PER[noop-layer]:-}" ] && [ -n "${PER[tmc]:-}" ]; then
  echo "tmc layer's own cost over noop-layer: $(diff_of "${PER[tmc]}" "${PER[noop-layer]}") instructions/request"
fi
# The api_request spans with no subscriber (issue 14's target: at most 100).
if [ -n "${PER[tmc]:-}" ] && [ -n "${PER[tmc-nospans]:-}" ]; then
  echo "api_request spans with no subscriber (tmc over tmc-nospans): $(diff_of "${PER[tmc]}" "${PER[tmc-nospans]}") instructions/request"
fi
if [ -n "${PER[bare]:-}" ] && [ -n "${PER[tmc-outer]:-}" ]; then
  echo "tmc-outer layer's own cost over bare: $(diff_of "${PER[tmc-outer]}" "${PER[bare]}") instructions/request"
fi
