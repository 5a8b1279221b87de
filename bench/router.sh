#!/usr/bin/env bash
# Router benchmark: slipway-router vs nginx vs a direct connection, then route-table scale
# (10 vs 100,000 apps) and update-to-served latency at 100,000 apps.
#
#   bench/router.sh            # ROUNDS=5 DURATION=10s CONNS=64 by default
#   ROUNDS=3 DURATION=5s bench/router.sh
#
# The proxy under test (router or nginx, one worker) is pinned to CPU $PROXY_CPU; wrk and
# the backend share CPU $LOAD_CPU. Targets alternate within each round so drift on this
# noisy machine hits all of them alike; medians are reported, with ratios from one run.
# The proxy's CPU time per request comes from /proc/<pid>/stat before and after each run,
# so it holds even when the load side is the bottleneck. Everything listens on loopback
# and stops by itself. Results: bench/out/router-results.md (paste into bench/RESULTS.md).
set -euo pipefail
trap 'echo "bench/router.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UPDATES=${UPDATES:-1000}
TABLE_ROUNDS=${TABLE_ROUNDS:-9}
TABLE_DURATION=${TABLE_DURATION:-6s}
BIG_TABLE=${BIG_TABLE:-100000}
OUT=bench/out
BIN=target/release
TOKEN=bench-admin-token-0123456789
BACKEND=127.0.0.1:19101
BACKEND_B=127.0.0.1:19102
ROUTER=127.0.0.1:19180
ADMIN=127.0.0.1:19190
BIG_ROUTER=127.0.0.1:19181
BIG_ADMIN=127.0.0.1:19191
NGINX=127.0.0.1:19280
ZONE=bench.localhost
HOST=app-0.$ZONE

source bench/lib.sh
need "apt-get install wrk nginx-light util-linux python3 curl" wrk nginx taskset python3 curl

mkdir -p "$OUT/nginx"
rm -f "$OUT"/router-runs.tsv
echo "== building (release)" >&2
cargo build --release --workspace --quiet

# --- backend, router, nginx -------------------------------------------------------------
taskset -c "$LOAD_CPU" "$BIN/bench-backend" --listen "$BACKEND" --name "hello from backend a" & pids+=($!)
taskset -c "$LOAD_CPU" "$BIN/bench-backend" --listen "$BACKEND_B" --name "hello from backend b" & pids+=($!)

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
taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router.toml" > "$OUT/router.log" 2>&1 & router_pid=$!; pids+=($router_pid)
# A second router, identical but for the size of its table (loaded once, below).
SLIPWAY_ROUTER__LISTEN__HTTP=$BIG_ROUTER SLIPWAY_ROUTER__LISTEN__ADMIN=$BIG_ADMIN \
  taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router.toml" > "$OUT/router-big.log" 2>&1 & big_pid=$!; pids+=($big_pid)
wait_http "http://$ADMIN/readyz"
wait_http "http://$BIG_ADMIN/readyz"
wait_http "http://$BACKEND/"

# nginx: one worker, host-based routing to the same 10 apps, keep-alive upstreams, the same
# forwarding headers the router sets.
{
  echo "worker_processes 1; pid $PWD/$OUT/nginx/nginx.pid; error_log $PWD/$OUT/nginx/error.log warn; daemon off;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off;"
  for i in $(seq 0 9); do
    echo "  upstream app_$i { server $BACKEND; keepalive 64; }"
    echo "  server { listen $NGINX; server_name app-$i.$ZONE;"
    echo "    location / { proxy_pass http://app_$i; proxy_http_version 1.1; proxy_set_header Connection \"\";"
    echo "      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "      proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host;"
    echo "      proxy_set_header X-Forwarded-Port \$server_port; proxy_set_header X-Request-Id \$request_id; } }"
  done
  echo "  server { listen $NGINX default_server; return 404; }"
  echo "}"
} > "$OUT/nginx/nginx.conf"
taskset -c "$PROXY_CPU" nginx -p "$PWD/$OUT/nginx" -c "$PWD/$OUT/nginx/nginx.conf" & nginx_pid=$!; pids+=($nginx_pid)
curl -fsS -o /dev/null -H "Host: $HOST" --retry 50 --retry-delay 0 --retry-all-errors "http://$NGINX/"

load_apps() { # admin apps
  "$BIN/route-load" --admin "$1" --token "$TOKEN" --apps "$2" --endpoint "$BACKEND" >&2
}
load_apps "$ADMIN" 10
load_apps "$BIG_ADMIN" "$BIG_TABLE"

# CPU ticks (user+system) of a process and its children threads/processes.
cpu_ticks() { # pid...
  local total=0
  for pid in "$@"; do
    for p in "$pid" $(pgrep -P "$pid" || true); do
      read -r -a f < "/proc/$p/stat"; total=$((total + f[13] + f[14]))
    done
  done
  echo "$total"
}

# One wrk run; appends a row: target round rps p50_us p99_us requests cpu_ticks errors
run() { # target url pid(or -) [lua]
  local target=$1 url=$2 pid=$3 lua=${4:-} before=0 after=0 out
  [ "$pid" != - ] && before=$(cpu_ticks "$pid")
  local args=(-t1 "-c$CONNS" "-d${RUN_DURATION:-$DURATION}" --latency -H "Host: $HOST")
  [ -n "$lua" ] && args+=(-s "$lua")
  out=$(taskset -c "$LOAD_CPU" wrk "${args[@]}" "$url")
  [ "$pid" != - ] && after=$(cpu_ticks "$pid")
  python3 - "$target" "$round" "$((after - before))" <<PY "$out" >> "$OUT/router-runs.tsv"
import re, sys
target, rnd, ticks = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = sys.argv[4]
def us(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        sys.exit(f"bench/router.sh: cannot read wrk's latency {v!r} in:\n{out}")
    n, unit = m.groups()
    return float(n) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]
p50 = us(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)); p99 = us(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs = (sum(map(int, sock.groups())) if sock else 0) + (int(non2xx.group(1)) if non2xx else 0)
print(f"{target}\t{rnd}\t{rps}\t{p50}\t{p99}\t{reqs}\t{ticks}\t{errs}")
PY
}

hosts_lua="$OUT/ten-apps.lua"
cat > "$hosts_lua" <<LUA
local i = 0
request = function()
  i = (i + 1) % 10
  return wrk.format("GET", "/", { ["Host"] = "app-" .. i .. ".$ZONE" })
end
LUA

echo "== proxy comparison: $ROUNDS rounds x (direct, router, nginx), $DURATION each, $CONNS connections" >&2
for round in $(seq 1 "$ROUNDS"); do
  order=(direct router nginx); shift_by=$(( (round - 1) % 3 ))
  order=("${order[@]:$shift_by}" "${order[@]:0:$shift_by}")
  for t in "${order[@]}"; do
    case $t in
      direct) run direct "http://$BACKEND/" - ;;
      router) run router "http://$ROUTER/" "$router_pid" ;;
      nginx) run nginx "http://$NGINX/" "$nginx_pid" ;;
    esac
    echo "   round $round $t done" >&2
  done
done

echo "== table scale: a router with 10 apps vs one with $BIG_TABLE, requests spread over 10 of them" >&2
RUN_DURATION=$TABLE_DURATION
for round in $(seq 1 "$TABLE_ROUNDS"); do
  if (( round % 2 )); then
    run "table-10" "http://$ROUTER/" "$router_pid" "$hosts_lua"
    run "table-$BIG_TABLE" "http://$BIG_ROUTER/" "$big_pid" "$hosts_lua"
  else
    run "table-$BIG_TABLE" "http://$BIG_ROUTER/" "$big_pid" "$hosts_lua"
    run "table-10" "http://$ROUTER/" "$router_pid" "$hosts_lua"
  fi
  echo "   round $round done" >&2
done
unset RUN_DURATION

echo "== update latency at $BIG_TABLE apps ($UPDATES updates)" >&2
latency=$("$BIN/update-latency" --admin "$BIG_ADMIN" --token "$TOKEN" --proxy "$BIG_ROUTER" --host "app-5.$ZONE" \
  --app app-5 --a "$BACKEND" --b "$BACKEND_B" --iterations "$UPDATES")
echo "$latency" > "$OUT/update-latency.txt"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$big_pid/status")

TABLE_DURATION=$TABLE_DURATION python3 - "$OUT/router-runs.tsv" "$latency" "$BIG_TABLE" "$rss_kb" "$ROUNDS" "$DURATION" "$CONNS" <<'PY' | tee "$OUT/router-results.md"
import os, statistics as st, sys, platform, subprocess
runs, latency, big, rss_kb, rounds, duration, conns = sys.argv[1:8]
rows = [l.rstrip("\n").split("\t") for l in open(runs)]
tck = os.sysconf("SC_CLK_TCK")
by = {}
for t, rnd, rps, p50, p99, reqs, ticks, errs in rows:
    by.setdefault(t, []).append((float(rps), float(p50), float(p99), int(reqs), int(ticks), int(errs)))
def med(t, i): return st.median(r[i] for r in by[t])
def cpu_us(t):  # CPU microseconds per request, median over rounds
    return st.median(r[4] / tck * 1e6 / r[3] for r in by[t])
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"Machine: {os.cpu_count()} cores ({cpu}), {round(os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30)} GiB, "
      f"{platform.platform()}; nginx {subprocess.run(['nginx','-v'],capture_output=True,text=True).stderr.strip().split('/')[-1]}, wrk 4.1.0.")
print(f"Each figure is the median of {rounds} runs of `wrk -t1 -c{conns} -d{duration}`; proxy pinned to one core, wrk + backend on the other.\n")
print("| target | requests/s | p50 latency | p99 latency | proxy CPU per request | errors |")
print("|---|---:|---:|---:|---:|---:|")
for t in ["direct", "router", "nginx"]:
    c = f"{cpu_us(t):.1f} µs" if t != "direct" else "–"
    print(f"| {t} | {med(t,0):,.0f} | {med(t,1):.0f} µs | {med(t,2):.0f} µs | {c} | {sum(r[5] for r in by[t])} |")
print()
print("| ratio router / nginx | requests/s | p99 latency | CPU per request |")
print("|---|---:|---:|---:|")
print(f"| | {med('router',0)/med('nginx',0):.2f} | {med('router',2)/med('nginx',2):.2f} | {cpu_us('router')/cpu_us('nginx'):.2f} |")
print()
small, large = f"table-10", f"table-{big}"
print(f"Route table: {len(by[f'table-10'])} rounds of `wrk -t1 -c{conns}` for {os.environ.get('TABLE_DURATION', '6s')} against each of two identical routers, "
      f"one holding 10 apps and one holding {big}, requests spread over 10 apps, the two runs of a round back to back. "
      "The per-round ratio compares runs seconds apart, so it is the figure that holds on this machine, whose speed drifts over minutes.\n")
print(f"| route table | requests/s | p99 latency | CPU per request |")
print("|---|---:|---:|---:|")
for t in [small, large]:
    print(f"| {t.split('-')[1]} apps | {med(t,0):,.0f} | {med(t,2):.0f} µs | {cpu_us(t):.1f} µs |")
print(f"| ratio {big} / 10 (medians) | {med(large,0)/med(small,0):.3f} | {med(large,2)/med(small,2):.2f} | {cpu_us(large)/cpu_us(small):.3f} |")
pairs = list(zip(by[small], by[large]))
paired = st.median(l[0] / s[0] for s, l in pairs)
print(f"| ratio {big} / 10 (median of the {len(pairs)} per-round ratios) | {paired:.3f} | | |")
print()
kv = dict(p.split("=") for p in latency.split())
print(f"Admin update → first request served by the new endpoint, at {big} apps, {kv['updates']} updates: "
      f"p50 {float(kv['p50_ms']):.3f} ms, p99 {float(kv['p99_ms']):.3f} ms, max {float(kv['max_ms']):.3f} ms "
      f"(stale responses after the PUT returned: {kv['stale_responses']}). Router RSS with {big} apps: {int(rss_kb)/1024:.0f} MiB.")
PY
