#!/usr/bin/env bash
# The operator against rclone alone, and many small DataMovers.
#
#   benches/datamover.sh [GIB] [SMALL]
#
# 1. A GIB GiB tree (64 MiB files of random bytes, default 1 GiB): `rclone sync` alone, then
#    the operator end to end (apply to Completed) with copyMethod Clone (clone + sync +
#    cleanup) and Direct (sync of the source itself), alternated 3 times; prints the median
#    of each and the ratios to rclone. SMALL=0 stops there.
# 2. SMALL DataMovers (default 1000) of a small tree applied at once: time until every one
#    is Completed, the reconcile p99 (controller_runtime_reconcile_time_seconds), and the
#    CPU seconds of the operator and of its children (rclone, cp): on a 2-core machine the
#    children's CPU alone bounds the wall time from below.
# 3. 20 long (throttled, RCLONE_BWLIMIT) syncs with --concurrency 1: the peak of
#    datamover_syncs_running and of workqueue_longest_running_processor_seconds, scraped
#    twice a second, and the reconcile p99.
# Requires rclone (Debian package). Works in a temp dir under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
GIB=${1:-1}
SMALL=${2:-1000}
cargo build --release --quiet -p datamover-operator
BIN=$PWD/target/release/datamover-operator
WORK=$(mktemp -d /tmp/dm-bench.XXXXXX)
OP=""
trap '[ -n "$OP" ] && kill "$OP" 2>/dev/null; rm -rf "$WORK"' EXIT
PORT_M=18480; PORT_A=18481; SERVER="http://127.0.0.1:$PORT_A"

mkdir -p "$WORK/source"
files=$((GIB * 16))
for i in $(seq 1 "$files"); do head -c $((64 * 1024 * 1024)) /dev/urandom > "$WORK/source/f$i.bin"; done
sync

# The CLI finds the API token in the data dir.
export DATAMOVER_DATA_DIR="$WORK/data"
start_operator() {
  "$BIN" run --data-dir "$WORK/data" --metrics-bind-address "127.0.0.1:$PORT_M" \
    --api-bind-address "127.0.0.1:$PORT_A" --concurrency "${1:-4}" \
    --max-concurrent-syncs "${2:-8}" --allow-host-path "$WORK" \
    --allow-local-destination "$WORK" >/dev/null 2>&1 &
  OP=$!
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$PORT_M/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "operator did not start" >&2; exit 1
}
stop_operator() { kill "$OP"; wait "$OP" 2>/dev/null || true; OP=""; rm -rf "$WORK/data"; }
now() { date +%s.%N; }
# Waits until DataMover $1 is Completed or Failed: its status read every 5 ms over one
# keep-alive connection to the API.
wait_finished() {
  python3 - "$1" "$PORT_A" "$WORK/data/api-token" <<'PY'
import http.client, json, sys, time
name, port, token_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
token = open(token_file).read().strip()
path = f"/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers/{name}"
conn = http.client.HTTPConnection("127.0.0.1", port)
while True:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    reply = conn.getresponse()
    body = reply.read()
    if reply.status == 200 and json.loads(body).get("status", {}).get("phase") in ("Completed", "Failed"):
        break
    time.sleep(0.005)
PY
}
# The p99 of controller_runtime_reconcile_time_seconds from an exposition on stdin.
reconcile_p99() {
  python3 -c '
import re, sys
buckets = []
for line in sys.stdin:
    m = re.match(r"controller_runtime_reconcile_time_seconds_bucket\{controller=\"datamover\".*le=\"([^\"]+)\"\} (\S+)", line)
    if m:
        buckets.append((float(m.group(1)), float(m.group(2))))
buckets.sort()
total = buckets[-1][1]
rank = 0.99 * total
prev_le, prev_c = 0.0, 0.0
for le, c in buckets:
    if c >= rank:
        p = le if le == float("inf") else prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1)
        print(f"{sys.argv[1]}: {int(total)} reconciles, p99 {p * 1000:.1f} ms (bucket interpolation)")
        break
    prev_le, prev_c = le, c
' "$1"
}

# One DataMover of the GIB tree, apply to Completed: `clone` (clone + sync + cleanup, the
# default) or `direct` (copyMethod: Direct: sync the source itself). Prints the seconds.
operator_backup() {
  local spec="{sourcePvc: big, secretName: dest, deletePvcAfterBackup: true}"
  [ "$1" = direct ] && spec="{sourcePvc: big, secretName: dest, copyMethod: Direct}"
  rm -rf "$WORK/dest-op"; sync
  start_operator
  cat > "$WORK/big.yaml" <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: big, annotations: {datamover.a-cup-of.coffee/host-path: "$WORK/source"}}
---
apiVersion: v1
kind: Secret
metadata: {name: dest}
stringData: {DESTINATION: "$WORK/dest-op"}
---
apiVersion: datamover.a-cup-of.coffee/v1alpha1
kind: DataMover
metadata: {name: big}
spec: $spec
YAML
  local t0 t1
  t0=$(now)
  "$BIN" apply -f "$WORK/big.yaml" --server "$SERVER" >/dev/null
  # Polled every 5 ms over one keep-alive connection: a CLI process every 50 ms added up to
  # 50 ms (and a process start) to every figure.
  wait_finished big
  t1=$(now)
  "$BIN" get dm big --server "$SERVER" | grep -q Completed || { echo "big backup ($1) failed" >&2; exit 1; }
  stop_operator
  echo "$t1 - $t0" | awk '{print $1 - $3}'
}

# rclone alone, Clone and Direct, interleaved so load affects them alike.
rclone_times=(); clone_times=(); direct_times=()
for round in 1 2 3; do
  rm -rf "$WORK/dest-rclone"; sync
  t0=$(now); rclone sync "$WORK/source/" "$WORK/dest-rclone" >/dev/null 2>&1; t1=$(now)
  rclone_times+=("$(echo "$t1 - $t0" | awk '{print $1 - $3}')")
  clone_times+=("$(operator_backup clone)")
  direct_times+=("$(operator_backup direct)")
  echo "round $round: rclone ${rclone_times[-1]} s, Clone ${clone_times[-1]} s, Direct ${direct_times[-1]} s" >&2
done
python3 - "${rclone_times[*]}" "${clone_times[*]}" "${direct_times[*]}" "$GIB" <<'PY'
import statistics, sys
r, c, d = (statistics.median(map(float, a.split())) for a in sys.argv[1:4])
print(f"{sys.argv[4]} GiB: rclone sync alone {r:.2f} s; operator end to end: copyMethod Clone {c:.2f} s (ratio {c / r:.3f}), Direct {d:.2f} s (ratio {d / r:.3f})")
PY
[ "$SMALL" = 0 ] && exit 0

# Many small DataMovers.
mkdir -p "$WORK/small"; echo hello > "$WORK/small/a.txt"; mkdir -p "$WORK/small/d"; echo x > "$WORK/small/d/b.txt"
python3 - "$WORK" "$SMALL" > "$WORK/small.yaml" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
print(f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: small, annotations: {{datamover.a-cup-of.coffee/host-path: \"{work}/small\"}}}}\n---")
for i in range(n):
    print(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: dest-{i}}}\nstringData: {{DESTINATION: \"{work}/small-dest/{i}\"}}\n---")
    print(f"apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: small-{i}}}\nspec: {{sourcePvc: small, secretName: dest-{i}, deletePvcAfterBackup: true}}\n---")
PY
start_operator 8
t0=$(now)
"$BIN" apply -f "$WORK/small.yaml" --server "$SERVER" >/dev/null
while true; do
  done_count=$("$BIN" get dm --server "$SERVER" | grep -cE " (Completed|Failed) " || true)
  [ "$done_count" -ge "$SMALL" ] && break
  sleep 0.5
done
t1=$(now)
failed=$("$BIN" get dm --server "$SERVER" | grep -c " Failed " || true)
echo "$SMALL small DataMovers: all finished in $(echo "$t1 - $t0" | awk '{printf "%.1f", $1 - $3}') s ($failed failed), concurrency 8"
curl -fs "http://127.0.0.1:$PORT_M/metrics" | reconcile_p99 "  reconcile"
# CPU seconds: the operator's own, and its reaped children's (rclone, cp), from /proc.
awk -v hz="$(getconf CLK_TCK)" -v n="$SMALL" '{ printf "  cpu: operator %.1f s (%.1f ms per DataMover), its children (rclone, cp) %.1f s\n", ($14 + $15) / hz, ($14 + $15) / hz * 1000 / n, ($16 + $17) / hz }' "/proc/$OP/stat"
stop_operator

# Twenty long syncs with one reconcile worker.
mkdir -p "$WORK/long"; head -c $((4 * 1024 * 1024)) /dev/urandom > "$WORK/long/data.bin"
python3 - "$WORK" > "$WORK/long.yaml" <<'PY'
import sys
work = sys.argv[1]
print(f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: long, annotations: {{datamover.a-cup-of.coffee/host-path: \"{work}/long\"}}}}\n---")
for i in range(20):
    print(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: ldest-{i}}}\nstringData: {{DESTINATION: \"{work}/long-dest/{i}\"}}\n---")
    print(f"apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: long-{i}}}\nspec: {{sourcePvc: long, secretName: ldest-{i}, additionalEnv: [{{name: RCLONE_BWLIMIT, value: 128k}}]}}\n---")
PY
start_operator 1 20
"$BIN" apply -f "$WORK/long.yaml" --server "$SERVER" >/dev/null
peak_running=0; peak_longest=0
t0=$(now)
while true; do
  text=$(curl -fs "http://127.0.0.1:$PORT_M/metrics")
  r=$(echo "$text" | awk '/^datamover_syncs_running\{namespace="default"/ {print $2}'); r=${r:-0}
  l=$(echo "$text" | awk '/^workqueue_longest_running_processor_seconds\{.*controller="datamover"/ {print $2}'); l=${l:-0}
  peak_running=$(python3 -c "print(max(float('$peak_running'), float('$r')))")
  peak_longest=$(python3 -c "print(max(float('$peak_longest'), float('$l')))")
  done_count=$("$BIN" get dm --server "$SERVER" | grep -cE " (Completed|Failed) " || true)
  [ "$done_count" -ge 20 ] && break
  sleep 0.5
done
t1=$(now)
echo "20 throttled syncs (4 MiB at 128 KiB/s), --concurrency 1: all finished in $(echo "$t1 - $t0" | awk '{printf "%.1f", $1 - $3}') s; peak datamover_syncs_running $peak_running; peak workqueue_longest_running_processor_seconds $peak_longest"
curl -fs "http://127.0.0.1:$PORT_M/metrics" | reconcile_p99 "  reconcile"
stop_operator
