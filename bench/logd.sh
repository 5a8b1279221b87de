#!/usr/bin/env bash
# logd benchmarks: ingest (PackedForward over 1, 4, 16 connections, against a TCP sink
# peer), fan-out to 100 / 1,000 / 10,000 SSE and WebSocket subscribers (delivered lines/s,
# ingest-to-subscriber latency), and memory per idle subscriber. Prints Markdown tables.
#
# Peers, side by side in the same run: for ingest, a TCP sink that reads and discards the
# same bytes (the transport's ceiling for this client); for fan-out, nats-server (Debian's
# package, core pub/sub, no history) delivering the same lines, as JSON of the same size,
# to the same number of subscribers.
#
# Usage: bench/logd.sh [seconds per run, default 5]
# Everything runs on loopback; every run is bounded in time. Takes about 3 minutes plus
# the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
source bench/lib.sh
# 10,000 subscribers need 10,000 sockets on each side (the hard limit here is 20000).
ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p slipway-logd -p slipway-bench
if ! command -v nats-server >/dev/null 2>&1; then
  echo "bench/logd.sh: installing nats-server (the fan-out peer)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nats-server >&2
fi
bin=target/release
work=$(mktemp -d)
pid=""
nats_pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Starts logd with `threads` runtime threads (and persistence in $work/data when a second
# argument is given); sets $pid. History keeps its defaults, so eviction runs.
start_logd() {
  local threads=$1
  local persistence=""
  if [ -n "${2:-}" ]; then
    rm -rf "$work/data"
    persistence=$'[persistence]\n'"dir = \"$work/data\""$'\n'"fsync = \"$2\""
  fi
  cat > "$work/logd.toml" <<CONF
worker_threads = $threads
log_level = "warn"
[listen]
forward = "127.0.0.1:24299"
http = "127.0.0.1:8099"
[http]
max_subscribers = 20000
subscriber_queue = 1024
[auth]
anonymous = true
$persistence
CONF
  "$bin/slipway-logd" --config "$work/logd.toml" > "$work/logd.log" 2>&1 &
  pid=$!
  wait_tcp 8099 || { echo "logd did not start:" >&2; cat "$work/logd.log" >&2; exit 1; }
}
stop_logd() {
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "## Ingest: PackedForward, 1,000 small records per frame (logd on 1 runtime thread)"
echo
echo "| target | connections | records | records/s | MiB/s |"
echo "|---|---|---|---|---|"
start_logd 1
for c in 1 4 16; do
  "$bin/logd-load" --addr 127.0.0.1:24299 --connections "$c" --seconds "$secs" --label "logd"
  "$bin/logd-load" --sink --connections "$c" --seconds "$secs" --label "TCP sink (peer)"
done
stop_logd
for fsync in always never; do
  start_logd 1 "$fsync"
  "$bin/logd-load" --addr 127.0.0.1:24299 --connections 4 --seconds "$secs" --label "logd, persistence, fsync=$fsync"
  stop_logd
done
echo

echo "## Fan-out: one app, lines at a fixed rate, N followers (logd on 2 runtime threads; peer: nats-server)"
echo
echo "| transport | subscribers | lines/s sent | lines/s delivered | delivered | p50 ms | p99 ms | send s |"
echo "|---|---|---|---|---|---|---|---|"
for t in sse ws; do
  for n in 100 1000 10000; do
    rate=1000
    [ "$n" -eq 10000 ] && rate=100
    start_logd 2
    "$bin/logd-fanout" --http 127.0.0.1:8099 --forward 127.0.0.1:24299 fanout \
      --subscribers "$n" --transport "$t" --rate "$rate" --seconds "$secs"
    stop_logd
  done
done
nats-server -a 127.0.0.1 -p 4299 > "$work/nats.log" 2>&1 &
nats_pid=$!
wait_tcp 4299
for n in 100 1000 10000; do
  rate=1000
  [ "$n" -eq 10000 ] && rate=100
  "$bin/logd-fanout" --nats 127.0.0.1:4299 fanout --subscribers "$n" --transport nats --rate "$rate" --seconds "$secs"
done
kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true; nats_pid=""
echo

echo "## Memory per idle subscriber (logd RSS before and after)"
echo
echo "| transport | subscribers | RSS before KiB | RSS after KiB | KiB per subscriber |"
echo "|---|---|---|---|---|"
for t in sse ws; do
  start_logd 2
  "$bin/logd-fanout" --http 127.0.0.1:8099 --forward 127.0.0.1:24299 idle --subscribers 5000 --transport "$t" --pid "$pid"
  stop_logd
done
