#!/usr/bin/env bash
# Control-plane benchmark: time from an API change to the first request a router serves
# with it, over the route stream, side by side with a poller reading GET /v1/routes and
# with the router's admin API written directly (see bench/src/bin/control-latency.rs).
#
#   bench/control.sh                 # CHANGES=200 POLL=1s by default (about 4 minutes)
#   CHANGES=100 POLL=250ms bench/control.sh
#
# Runs on loopback: slipway server (with one app: bench-backend as its web process), a
# router following its route stream, and a second router fed by the poller. Everything
# stops by itself. Results: bench/out/control-results.md (paste into bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

CHANGES=${CHANGES:-200}
POLL=${POLL:-1s}
OUT=bench/out/control
BIN=$PWD/target/release
TOKEN=bench-control-token-0123456789
ADMIN_TOKEN=bench-router-admin-token-0123456789
API=127.0.0.1:19300
STREAM_ROUTER=127.0.0.1:19380
STREAM_ADMIN=127.0.0.1:19390
POLL_ROUTER=127.0.0.1:19480
POLL_ADMIN=127.0.0.1:19490
ZONE=bench.localhost

source bench/lib.sh
need "apt-get install curl python3" curl python3

rm -rf "$OUT"; mkdir -p "$OUT/app"
echo "== building (release)" >&2
cargo build --release --workspace --quiet

cat > "$OUT/control.toml" <<TOML
data_dir = "$PWD/$OUT/data"
log_level = "warn"
[listen]
api = "$API"
[auth]
token = "$TOKEN"
[apps]
zones = ["$ZONE"]
url = "http://{app}.$ZONE"
TOML
"$BIN/slipway" server --config "$OUT/control.toml" > "$OUT/control.log" 2>&1 & pids+=($!)
wait_http "http://$API/healthz"

router_config() { # http admin control-url
  echo "workers = 1"; echo "zones = [\"$ZONE\"]"; echo "access_log = false"; echo "log_level = \"warn\""
  echo "[listen]"; echo "http = \"$1\""; echo "admin = \"$2\""
  echo "[admin]"; echo "token = \"$ADMIN_TOKEN\""
  if [ -n "$3" ]; then echo "[control]"; echo "url = \"$3\""; echo "token = \"$TOKEN\""; fi
}
router_config "$STREAM_ROUTER" "$STREAM_ADMIN" "http://$API" > "$OUT/stream-router.toml"
router_config "$POLL_ROUTER" "$POLL_ADMIN" "" > "$OUT/poll-router.toml"
"$BIN/slipway-router" --config "$OUT/stream-router.toml" > "$OUT/stream-router.log" 2>&1 & pids+=($!)
"$BIN/slipway-router" --config "$OUT/poll-router.toml" > "$OUT/poll-router.log" 2>&1 & pids+=($!)
wait_http "http://$STREAM_ADMIN/readyz"
wait_http "http://$POLL_ADMIN/readyz"

# The app: bench-backend as its web process.
echo "web: exec $BIN/bench-backend --listen 127.0.0.1:\$PORT --name bench" > "$OUT/app/Procfile"
export SLIPWAY_API_URL=http://$API SLIPWAY_TOKEN=$TOKEN
"$BIN/slipway" apps create bench >&2
"$BIN/slipway" deploy "$OUT/app" --app bench >&2

echo "== $CHANGES changes, poll interval $POLL" >&2
table=$("$BIN/control-latency" --api "$API" --token "$TOKEN" --app bench --router "$STREAM_ROUTER" \
  --poll-router "$POLL_ROUTER" --poll-admin "$POLL_ADMIN" --poll-token "$ADMIN_TOKEN" \
  --poll-interval "$POLL" --changes "$CHANGES" --suffix "$ZONE.test")

python3 - "$CHANGES" "$POLL" "$table" <<'PY' | tee "$OUT/../control-results.md"
import os, platform, subprocess, sys
changes, poll, table = sys.argv[1], sys.argv[2], sys.argv[3]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"Machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}. One run of `bench/control.sh` "
      f"(CHANGES={changes}, POLL={poll}): each change adds a custom domain to a deployed app through the API, "
      "at a random moment of the poll interval; the time runs from sending the API request until a router "
      "answers 200 for the new host (both routers are asked on kept-alive connections, in a tight loop, "
      "concurrently).\n")
print(table)
PY
