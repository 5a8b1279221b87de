#!/usr/bin/env bash
# Deterministic cost of a proxied request: user-space instructions per request, counted by
# callgrind, for one or more router binaries under the same fixed load (so two builds of
# the router can be compared exactly, whatever the machine's noise).
#
#   bench/callgrind.sh [ROUTER_BINARY...]     # default: target/release/slipway-router
#   REQUESTS=20000 CONNS=16 bench/callgrind.sh old/slipway-router target/release/slipway-router
#
# Each binary runs under `valgrind --tool=callgrind` with one worker; once it serves, the
# counters are zeroed, h2load sends exactly $REQUESTS HTTP/1.1 requests over $CONNS
# keep-alive connections to a bench-backend app, the counters are dumped, and the total
# instruction count (Ir) is divided by the requests. Start-up is not counted. Everything
# listens on loopback and stops by itself.
set -euo pipefail
trap 'echo "bench/callgrind.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-16}
OUT=bench/out/callgrind
BACKEND=127.0.0.1:19401
ROUTER=127.0.0.1:19480
ADMIN=127.0.0.1:19490
TOKEN=bench-admin-token-0123456789
ZONE=bench.localhost
HOST=app-0.$ZONE

source bench/lib.sh
need "apt-get install valgrind nghttp2-client curl" valgrind callgrind_control h2load curl

binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(target/release/slipway-router)
[ -x target/release/bench-backend ] && [ -x target/release/route-load ] || cargo build --release --workspace --quiet
mkdir -p "$OUT"

target/release/bench-backend --listen "$BACKEND" --name "hello from the backend" & pids+=($!)
wait_http "http://$BACKEND/"

cat > "$OUT/router.toml" <<TOML
workers = 1
zones = ["$ZONE"]
access_log = false
log_level = "warn"
[listen]
http = "$ROUTER"
admin = "$ADMIN"
[admin]
token = "$TOKEN"
TOML

echo "| binary | requests | instructions per request |"
echo "|---|---:|---:|"
for bin in "${binaries[@]}"; do
  rm -f "$OUT"/callgrind.out.*
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$bin" --config "$OUT/router.toml" \
    > "$OUT/router.log" 2>&1 & vg=$!; pids+=($vg)
  wait_http_slow() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; exit 1; }
  wait_http_slow "http://$ADMIN/readyz"
  target/release/route-load --admin "$ADMIN" --token "$TOKEN" --apps 1 --endpoint "$BACKEND" >&2
  # Warm the connections once, then count only the measured requests.
  h2load --h1 -n "$CONNS" -c "$CONNS" -H ":authority: $HOST" "http://$ROUTER/" > /dev/null
  callgrind_control -z "$vg" > /dev/null
  out=$(h2load --h1 -n "$REQUESTS" -c "$CONNS" -H ":authority: $HOST" "http://$ROUTER/")
  ok=$(echo "$out" | sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p')
  [ "$ok" = "$REQUESTS" ] || { echo "$me: $bin answered $ok of $REQUESTS with 2xx" >&2; echo "$out" >&2; exit 1; }
  callgrind_control -d "$vg" > /dev/null
  kill "$vg"; wait "$vg" 2>/dev/null || true
  # The dump taken after zeroing holds the measured requests (the final dump at exit
  # holds only the shutdown).
  dump=$(ls "$OUT"/callgrind.out.*.1 2>/dev/null | head -1)
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump")
  [ -n "$ir" ] || ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dump")
  python3 -c "import sys; b,n,ir=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); print(f'| {b} | {n} | {ir/n:,.0f} |')" "$bin" "$REQUESTS" "$ir"
done
