#!/usr/bin/env bash
# Server instructions per request, repeatable to a few instructions, under callgrind.
#
#   benches/http_instructions.sh [N1] [N2] [REPS]      (VARIANTS="bare tmc" to pick some)
#
# For each variant of examples/http_bench (one worker thread), serves exactly N1 and then
# N2 requests of GET /hello/{id} over one keep-alive connection under
# `valgrind --tool=callgrind`, and prints (I(N2) - I(N1)) / (N2 - N1): start-up and
# shutdown cancel out (one-time initialisations are left out: see `instructions`). Each count
# is the minimum of REPS runs (default 5): whether the next
# request has already arrived when the server polls its socket varies with timing and adds a
# few hundred instructions per request to some runs (never removes any), for every variant
# alike; the minimum repeats to within a few dozen instructions per request.
# Requires valgrind (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${1:-2000}
N2=${2:-12000}
REPS=${3:-5}
PORT=${PORT:-18282}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
cargo build --release --quiet --example http_bench
BIN=target/release/examples/http_bench
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

client() { # send $1 requests over one keep-alive connection
  python3 - "$PORT" "$1" <<'PY'
import http.client, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(600):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port); conn.connect(); break
    except OSError:
        time.sleep(0.1)
for i in range(n):
    conn.request("GET", f"/hello/{i}")
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
conn.close()
PY
}

min_instructions() { # variant n
  for _ in $(seq 1 "$REPS"); do instructions "$1" "$2"; done | sort -n | head -n 1
}

instructions() { # variant n
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$1.$2" "$BIN" --variant "$1" \
    --bind "127.0.0.1:$PORT" --worker-threads 1 --exit-after "$2" 2>/dev/null &
  local server=$!
  client "$2"
  wait "$server"
  # Less the one-time initialisations (the `once_cell` cells): quanta calibrates its TSC
  # clock in one, for a wall-clock-bounded time, so its instruction count varies from run
  # to run by millions; nothing in it is per request.
  local total once
  total=$(awk '/^summary:/ {print $2}' "$OUT/cg.$1.$2")
  once=$(callgrind_annotate --inclusive=yes "$OUT/cg.$1.$2" 2>/dev/null |
    awk '/once_cell::imp::OnceCell<T>::initialize \[/ {gsub(",", "", $1); s += $1} END {print s + 0}')
  echo $(( total - once ))
}

VARIANTS=${VARIANTS:-bare noop-layer tmc tmc-nospans tmc-outer axum-prometheus}
declare -A PER
printf "%-16s%16s%14s\n" variant "instr/request" "vs bare"
for variant in $VARIANTS; do
  i1=$(min_instructions "$variant" "$N1")
  i2=$(min_instructions "$variant" "$N2")
  per=$(( (i2 - i1) / (N2 - N1) ))
  PER[$variant]=$per
  [ "$variant" = bare ] && BARE=$per
  printf "%-16s%16d%14s\n" "$variant" "$per" "$(awk -v a="$per" -v b="${BARE:-$per}" 'BEGIN {printf "%.3f", a / b}')"
done
# The API layer's own cost: over a layer that does nothing, in the same build (issue 13's
# target: at most 500), and outer mode over bare (it adds no per-route layer to compare with).
if [ -n "${PER[noop-layer]:-}" ] && [ -n "${PER[tmc]:-}" ]; then
  echo "tmc layer's own cost over noop-layer: $(( PER[tmc] - PER[noop-layer] )) instructions/request"
fi
# The api_request spans with no subscriber (issue 14's target: at most 100).
if [ -n "${PER[tmc]:-}" ] && [ -n "${PER[tmc-nospans]:-}" ]; then
  echo "api_request spans with no subscriber (tmc over tmc-nospans): $(( PER[tmc] - PER[tmc-nospans] )) instructions/request"
fi
if [ -n "${PER[bare]:-}" ] && [ -n "${PER[tmc-outer]:-}" ]; then
  echo "tmc-outer layer's own cost over bare: $(( PER[tmc-outer] - PER[bare] )) instructions/request"
fi
