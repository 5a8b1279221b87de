#!/usr/bin/env bash
# Deterministic cost of ingest: user-space instructions per record, counted by callgrind,
# for one or more logd binaries under the same fixed load (so two builds of logd can be
# compared exactly, whatever the machine's noise).
#
#   bench/logd-callgrind.sh [LOGD_BINARY...]     # default: target/release/slipway-logd
#   RECORDS=200000 bench/logd-callgrind.sh old/slipway-logd target/release/slipway-logd
#   PERSISTENCE=never bench/logd-callgrind.sh     # with on-disk segments (fsync never/always)
#   LOAD=path/to/logd-load                        # the load tool (default target/release/logd-load)
#
# Each binary runs under `valgrind --tool=callgrind` with `worker_threads = 1` and the
# history at its defaults (so eviction runs, as in bench/logd.sh); once it serves, one
# acked warm-up frame creates the app, the counters are zeroed, `logd-load --records`
# sends exactly $RECORDS small records (PackedForward, 1,000 per frame, one connection;
# the last frame is acked, so every record was kept), the counters are dumped and the
# total instruction count (Ir) is divided by the records. Start-up is not counted.
# The per-function profile of each binary is left in bench/out/logd-callgrind/ (read it
# with `callgrind_annotate --inclusive=yes FILE`). Everything listens on loopback and
# stops by itself.
set -euo pipefail
trap 'echo "bench/logd-callgrind.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-200000}
LOAD=${LOAD:-target/release/logd-load}
PERSISTENCE=${PERSISTENCE:-}
OUT=bench/out/logd-callgrind
FORWARD=127.0.0.1:19724
HTTP=127.0.0.1:19798

source bench/lib.sh
need "apt-get install valgrind curl" valgrind callgrind_control callgrind_annotate curl

binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(target/release/slipway-logd)
[ -x "$LOAD" ] || cargo build --release --workspace --quiet
mkdir -p "$OUT"

persistence=""
if [ -n "$PERSISTENCE" ]; then
  persistence=$'[persistence]\n'"dir = \"$OUT/data\""$'\n'"fsync = \"$PERSISTENCE\""
fi
cat > "$OUT/logd.toml" <<TOML
worker_threads = 1
log_level = "warn"
[listen]
forward = "$FORWARD"
http = "$HTTP"
[auth]
anonymous = true
$persistence
TOML

echo "| binary | records | instructions per record |"
echo "|---|---:|---:|"
for bin in "${binaries[@]}"; do
  for port in "${FORWARD##*:}" "${HTTP##*:}"; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$me: port $port is in use" >&2; exit 1; }
  done
  rm -rf "$OUT/data" "$OUT"/callgrind.out.*
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$bin" --config "$OUT/logd.toml" \
    > "$OUT/logd.log" 2>&1 & vg=$!; pids+=($vg)
  wait_http_slow() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; exit 1; }
  wait_http_slow "http://$HTTP/healthz"
  # Warm up: the app exists and the connection paths ran once before counting.
  "$LOAD" --addr "$FORWARD" --records 1000 --label warm-up > /dev/null
  callgrind_control -z "$vg" > /dev/null 2>&1
  "$LOAD" --addr "$FORWARD" --records "$RECORDS" --label "$bin" > "$OUT/load.txt"
  callgrind_control -d "$vg" > /dev/null 2>&1
  kill "$vg"; wait "$vg" 2>/dev/null || true
  sent=$(cut -d'|' -f4 "$OUT/load.txt" | tr -d ' ')
  # The dump taken after zeroing holds the measured records (the final dump at exit
  # holds only the shutdown).
  dump=$(ls "$OUT"/callgrind.out.*.1 2>/dev/null | head -1)
  name=$(echo "$bin" | tr '/' '_')
  cp "$dump" "$OUT/profile.$name"
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump")
  [ -n "$ir" ] || ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dump")
  python3 -c "import sys; b,n,ir=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); print(f'| {b} | {n} | {ir/n:,.0f} |')" "$bin" "$sent" "$ir"
done
