#!/usr/bin/env bash
# Router benchmark: slipway-router against nginx (configured as ingress-nginx runs it) and
# haproxy (one thread, `http-reuse always`), with a direct connection as the floor, on two
# backends; then route-table scale (10 vs 100,000 apps), update-to-served latency at
# 100,000 apps, and the instruction count of bench/callgrind.sh (router, nginx, haproxy
# under callgrind with the same fixed load: the ratio no machine noise can move).
#
#   bench/router.sh      # ROUNDS=5 DURATION=10s: about 7 min timed + 2 min table + ~4 min callgrind
#   ROUNDS=9 bench/router.sh
#   ROUNDS=1 DURATION=2s TABLE_ROUNDS=1 TABLE_DURATION=2s UPDATES=50 CALLGRIND=0 bench/router.sh
#   (CALLGRIND_REQUESTS / CALLGRIND_CONNS set bench/callgrind.sh's load: 16000 / 16)
#   LINES=1 bench/router.sh   # adds "router-lines": a second router with router lines on
#                             # (every request logged to a real slipway-logd) in the same
#                             # rotation, and its per-round ratios to the router without them
#
# The proxy under test (one worker or thread each) is pinned to CPU $PROXY_CPU; wrk and the
# backend share CPU $LOAD_CPU. The two backends are bench-backend (hyper) and an nginx
# `return 200` app with the same body: their load-side costs differ, which changes the
# ratios, so both are reported. Within each round the targets (direct, router, nginx,
# haproxy) run one after another in an order that rotates from round to round, so drift
# hits all of them alike; per-round ratios compare runs seconds apart, and their medians
# are the headline figures. A proxy's CPU time per request comes from /proc/<pid>/stat
# before and after each run, so it holds even when the load side is the bottleneck.
# Before any measurement each proxy is checked to answer the app with the backend's body
# and to forward the same five headers. Everything listens on loopback, every load is
# bounded in time (and killed if it overruns), and the script stops what it started, also
# on failure or Ctrl-C. Results: bench/out/router-results.md.
set -euo pipefail
trap 'echo "bench/router.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKENDS=${BACKENDS:-hyper nginx}
UPDATES=${UPDATES:-1000}
TABLE_ROUNDS=${TABLE_ROUNDS:-9}
TABLE_DURATION=${TABLE_DURATION:-6s}
BIG_TABLE=${BIG_TABLE:-100000}
CALLGRIND=${CALLGRIND:-1}
LINES=${LINES:-}
OUT=bench/out
BIN=target/release
TOKEN=bench-admin-token-0123456789
BACKEND=127.0.0.1:19101
BACKEND_B=127.0.0.1:19102
NGINX_APP=127.0.0.1:19103
ECHO=127.0.0.1:19104
ROUTER=127.0.0.1:19180
ADMIN=127.0.0.1:19190
BIG_ROUTER=127.0.0.1:19181
BIG_ADMIN=127.0.0.1:19191
LINES_ROUTER=127.0.0.1:19182
LINES_ADMIN=127.0.0.1:19192
LOGD_FORWARD=127.0.0.1:19105
LOGD_HTTP=127.0.0.1:19106
NGINX=127.0.0.1:19280
HAPROXY=127.0.0.1:19380
ZONE=bench.localhost
HOST=app-0.$ZONE
BODY="hello from backend a"

source bench/lib.sh
source bench/peers.sh
need "apt-get install wrk nginx-light haproxy util-linux python3 curl" wrk nginx haproxy taskset lscpu python3 curl timeout
ulimit -n "$(ulimit -Hn)"

ports_free "${BACKEND#*:}" "${BACKEND_B#*:}" "${NGINX_APP#*:}" "${ECHO#*:}" "${ROUTER#*:}" "${ADMIN#*:}" \
  "${BIG_ROUTER#*:}" "${BIG_ADMIN#*:}" "${NGINX#*:}" "${HAPROXY#*:}" "${LINES_ROUTER#*:}" "${LINES_ADMIN#*:}" \
  "${LOGD_FORWARD#*:}" "${LOGD_HTTP#*:}"
mkdir -p "$OUT"
rm -f "$OUT"/router-runs.tsv "$OUT"/callgrind.md
echo "== building (release)" >&2
cargo build --release --workspace --quiet

# --- backends (on the load core) -----------------------------------------------------------
taskset -c "$LOAD_CPU" "$BIN/bench-backend" --listen "$BACKEND" --name "$BODY" & pids+=($!)
taskset -c "$LOAD_CPU" "$BIN/bench-backend" --listen "$BACKEND_B" --name "hello from backend b" & pids+=($!)
taskset -c "$LOAD_CPU" "$BIN/bench-backend" --listen "$ECHO" --echo-headers & pids+=($!)
nginx_app_conf "$PWD/$OUT/nginx-app" "$NGINX_APP" "$BODY"
taskset -c "$LOAD_CPU" nginx -p "$PWD/$OUT/nginx-app" -c "$PWD/$OUT/nginx-app/nginx.conf" & pids+=($!)
wait_http "http://$BACKEND/"
wait_http "http://$NGINX_APP/"
wait_http "http://$ECHO/"
[ "$(curl -fsS "http://$NGINX_APP/")" = "$BODY" ] || { echo "$me: the nginx app does not answer '$BODY'" >&2; exit 1; }

load_apps() { # admin apps endpoint
  "$BIN/route-load" --admin "$1" --token "$TOKEN" --apps "$2" --endpoint "$3" >&2
}

# CPU ticks (user+system) of processes and their children (nginx's worker).
cpu_ticks() { # pid...
  local total=0 pid p f
  for pid in "$@"; do
    for p in "$pid" $(pgrep -P "$pid" || true); do
      read -r -a f < "/proc/$p/stat"; total=$((total + f[13] + f[14]))
    done
  done
  echo "$total"
}

# One wrk run; appends a row: backend target round rps p50_us p99_us requests cpu_ticks errors
run() { # backend target url pid(or -) [lua]
  local backend=$1 target=$2 url=$3 pid=$4 lua=${5:-} before=0 after=0 out duration
  duration=${RUN_DURATION:-$DURATION}
  [ "$pid" != - ] && before=$(cpu_ticks "$pid")
  local args=(-t1 "-c$CONNS" "-d$duration" --latency -H "Host: $HOST")
  [ -n "$lua" ] && args+=(-s "$lua")
  out=$(timeout $(( $(seconds "$duration") + 30 )) taskset -c "$LOAD_CPU" wrk "${args[@]}" "$url") ||
    { echo "$me: wrk against $target failed or overran:" >&2; echo "$out" >&2; exit 1; }
  [ "$pid" != - ] && after=$(cpu_ticks "$pid")
  python3 - "$backend" "$target" "$round" "$((after - before))" <<PY "$out" >> "$OUT/router-runs.tsv"
import re, sys
backend, target, rnd, ticks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
out = sys.argv[5]
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
print(f"{backend}\t{target}\t{rnd}\t{rps}\t{p50}\t{p99}\t{reqs}\t{ticks}\t{errs}")
PY
}

# --- router vs nginx vs haproxy, one backend at a time --------------------------------------
# Starts the three proxies routing the 10 apps (and `echo`) to $1, checks them, runs the
# rounds, stops them.
compare() { # backend-name backend-address
  local name=$1 addr=$2 round t order shift_by router_pid nginx_pid haproxy_pid lines_pid=- logd_pid
  router_conf "$OUT/router.toml" "$ROUTER" "$ADMIN" "$TOKEN"
  taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router.toml" > "$OUT/router.log" 2>&1 & router_pid=$!; pids+=($router_pid)
  if [ -n "$LINES" ]; then
    # logd shares the load side's core: the router's own cost is what is compared.
    logd_conf "$OUT/logd.toml" "$LOGD_FORWARD" "$LOGD_HTTP"
    taskset -c "$LOAD_CPU" "$BIN/slipway-logd" --config "$OUT/logd.toml" > "$OUT/logd.log" 2>&1 & logd_pid=$!; pids+=($logd_pid)
    wait_http "http://$LOGD_HTTP/healthz"
    router_conf "$OUT/router-lines.toml" "$LINES_ROUTER" "$LINES_ADMIN" "$TOKEN" "$LOGD_FORWARD"
    taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router-lines.toml" > "$OUT/router-lines.log" 2>&1 & lines_pid=$!; pids+=($lines_pid)
    wait_http "http://$LINES_ADMIN/readyz"
    load_apps "$LINES_ADMIN" 10 "$addr"
    curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d "{\"endpoints\":[\"$ECHO\"]}" "http://$LINES_ADMIN/v1/routes/echo"
    check_proxy router-lines "http://$LINES_ROUTER/" "$BODY" "$OUT/headers-router-lines.txt"
  fi
  nginx_proxy_conf "$PWD/$OUT/nginx" "$NGINX" "$addr" timed "$ECHO"
  taskset -c "$PROXY_CPU" nginx -p "$PWD/$OUT/nginx" -c "$PWD/$OUT/nginx/nginx.conf" & nginx_pid=$!; pids+=($nginx_pid)
  haproxy_conf "$PWD/$OUT/haproxy" "$HAPROXY" "$addr" "$ECHO"
  taskset -c "$PROXY_CPU" haproxy -db -f "$PWD/$OUT/haproxy/haproxy.cfg" > "$OUT/haproxy/haproxy.log" 2>&1 & haproxy_pid=$!; pids+=($haproxy_pid)
  wait_http "http://$ADMIN/readyz"
  load_apps "$ADMIN" 10 "$addr"
  curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"endpoints\":[\"$ECHO\"]}" "http://$ADMIN/v1/routes/echo"
  wait_http "http://$NGINX/" 10 -H "Host: $HOST"
  wait_http "http://$HAPROXY/" 10 -H "Host: $HOST"
  check_proxy router "http://$ROUTER/" "$BODY" "$OUT/headers-router.txt"
  check_proxy nginx "http://$NGINX/" "$BODY" "$OUT/headers-nginx.txt"
  check_proxy haproxy "http://$HAPROXY/" "$BODY" "$OUT/headers-haproxy.txt"
  for t in router_pid nginx_pid haproxy_pid; do
    kill -0 "${!t}" 2>/dev/null || { echo "$me: ${t%_pid} exited at start (see $OUT)" >&2; exit 1; }
  done

  local targets=(direct router nginx haproxy)
  [ -z "$LINES" ] || targets+=(router-lines)
  echo "== $name backend: $ROUNDS rounds x (${targets[*]}), $DURATION each, $CONNS connections" >&2
  for round in $(seq 1 "$ROUNDS"); do
    order=("${targets[@]}"); shift_by=$(( (round - 1) % ${#targets[@]} ))
    order=("${order[@]:$shift_by}" "${order[@]:0:$shift_by}")
    for t in "${order[@]}"; do
      case $t in
        direct) run "$name" direct "http://$addr/" - ;;
        router) run "$name" router "http://$ROUTER/" "$router_pid" ;;
        nginx) run "$name" nginx "http://$NGINX/" "$nginx_pid" ;;
        haproxy) run "$name" haproxy "http://$HAPROXY/" "$haproxy_pid" ;;
        router-lines) run "$name" router-lines "http://$LINES_ROUTER/" "$lines_pid" ;;
      esac
    done
    echo "   round $round (${order[*]}) done" >&2
  done
  stop "$router_pid" "$nginx_pid" "$haproxy_pid"
  [ -z "$LINES" ] || stop "$lines_pid" "$logd_pid"
}

for b in $BACKENDS; do
  case $b in
    hyper) compare hyper "$BACKEND" ;;
    nginx) compare nginx "$NGINX_APP" ;;
    *) echo "$me: unknown backend '$b' in BACKENDS (hyper, nginx)" >&2; exit 1 ;;
  esac
done

# --- route-table scale and update latency ---------------------------------------------------
# Two routers, identical but for the size of their tables.
router_conf "$OUT/router.toml" "$ROUTER" "$ADMIN" "$TOKEN"
router_conf "$OUT/router-big.toml" "$BIG_ROUTER" "$BIG_ADMIN" "$TOKEN"
taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router.toml" > "$OUT/router.log" 2>&1 & router_pid=$!; pids+=($router_pid)
taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/router-big.toml" > "$OUT/router-big.log" 2>&1 & big_pid=$!; pids+=($big_pid)
wait_http "http://$ADMIN/readyz"
wait_http "http://$BIG_ADMIN/readyz"
load_apps "$ADMIN" 10 "$BACKEND"
load_apps "$BIG_ADMIN" "$BIG_TABLE" "$BACKEND"

hosts_lua="$OUT/ten-apps.lua"
cat > "$hosts_lua" <<LUA
local i = 0
request = function()
  i = (i + 1) % 10
  return wrk.format("GET", "/", { ["Host"] = "app-" .. i .. ".$ZONE" })
end
LUA

echo "== table scale: a router with 10 apps vs one with $BIG_TABLE, requests spread over 10 of them" >&2
RUN_DURATION=$TABLE_DURATION
for round in $(seq 1 "$TABLE_ROUNDS"); do
  if (( round % 2 )); then
    run hyper "table-10" "http://$ROUTER/" "$router_pid" "$hosts_lua"
    run hyper "table-$BIG_TABLE" "http://$BIG_ROUTER/" "$big_pid" "$hosts_lua"
  else
    run hyper "table-$BIG_TABLE" "http://$BIG_ROUTER/" "$big_pid" "$hosts_lua"
    run hyper "table-10" "http://$ROUTER/" "$router_pid" "$hosts_lua"
  fi
  echo "   round $round done" >&2
done
unset RUN_DURATION

echo "== update latency at $BIG_TABLE apps ($UPDATES updates)" >&2
latency=$(timeout 300 "$BIN/update-latency" --admin "$BIG_ADMIN" --token "$TOKEN" --proxy "$BIG_ROUTER" --host "app-5.$ZONE" \
  --app app-5 --a "$BACKEND" --b "$BACKEND_B" --iterations "$UPDATES")
echo "$latency" > "$OUT/update-latency.txt"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$big_pid/status")
stop "$router_pid" "$big_pid"

# --- instructions per request (deterministic) -----------------------------------------------
if [ "$CALLGRIND" != 0 ]; then
  echo "== instructions per request under callgrind (bench/callgrind.sh)" >&2
  # Its own load (CONNS, REQUESTS) is not this script's: CALLGRIND_CONNS/_REQUESTS set it.
  ROUTER_BIN="$BIN/slipway-router" BACKENDS="$BACKENDS" CONNS="${CALLGRIND_CONNS:-16}" \
    REQUESTS="${CALLGRIND_REQUESTS:-16000}" bench/callgrind.sh > "$OUT/callgrind.md"
fi

versions="nginx $(nginx -v 2>&1 | sed 's|.*/||'), haproxy $(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p'), wrk $({ wrk -v 2>&1 || true; } | sed -n '1s/^wrk \([^ ]*\).*/\1/p')"
{
  machine
  echo
  python3 - "$OUT/router-runs.tsv" "$latency" "$BIG_TABLE" "$rss_kb" "$ROUNDS" "$DURATION" "$CONNS" "$TABLE_DURATION" "$versions" <<'PY'
import os, statistics as st, sys
runs, latency, big, rss_kb, rounds, duration, conns, table_duration, versions = sys.argv[1:10]
apps = f"{int(big):,}"
tck = os.sysconf("SC_CLK_TCK")
by = {}  # (backend, target) -> {round: (rps, p50, p99, reqs, ticks, errs)}
for line in open(runs):
    b, t, rnd, rps, p50, p99, reqs, ticks, errs = line.rstrip("\n").split("\t")
    by.setdefault((b, t), {})[int(rnd)] = (float(rps), float(p50), float(p99), int(reqs), int(ticks), int(errs))
def cpu(r):  # proxy CPU microseconds per request of one run
    return r[4] / tck * 1e6 / r[3] if r[3] else float("nan")
def measures(r):  # requests/s, p99, CPU per request
    return (r[0], r[2], cpu(r))
def med(key, f):
    return st.median(f(r) for r in by[key].values())

print(f"{versions}. Each run is `wrk -t1 -c{conns} -d{duration}`; the proxy (one worker / thread) "
      f"is pinned to one core, wrk and the backend to the other; {rounds} rounds, the targets in an order "
      "rotating from round to round.\n")
for b in dict.fromkeys(k[0] for k in by if k[1] in ("direct", "router", "nginx", "haproxy")):
    label = {"hyper": "bench-backend (hyper)", "nginx": "nginx `return 200`"}.get(b, b)
    print(f"#### Backend: {label}\n")
    print("| target | requests/s | p50 latency | p99 latency | proxy CPU per request | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in ["direct", "router", "nginx", "haproxy", "router-lines"]:
        k = (b, t)
        if k not in by: continue
        c = f"{med(k, cpu):.1f} µs" if t != "direct" else "–"
        print(f"| {t} | {med(k, lambda r: r[0]):,.0f} | {med(k, lambda r: r[1]):.0f} µs | {med(k, lambda r: r[2]):.0f} µs "
              f"| {c} | {sum(r[5] for r in by[k].values())} |")
    print("\n(medians of the rounds)\n")
    peers = [p for p in ("nginx", "haproxy") if (b, p) in by and (b, "router") in by]
    head = " | ".join(f"router / {p}: {m}" for p in peers for m in ("requests/s", "p99", "CPU per request"))
    print(f"| round | {head} |")
    print("|---|" + "---:|" * (3 * len(peers)))
    ratios = {p: [] for p in peers}
    for rnd in sorted(by[(b, "router")]):
        cells = []
        for p in peers:
            if rnd not in by[(b, p)]: cells += [""] * 3; continue
            r = [x / y for x, y in zip(measures(by[(b, "router")][rnd]), measures(by[(b, p)][rnd]))]
            ratios[p].append(r)
            cells += [f"{x:.2f}" for x in r]
        print(f"| {rnd} | " + " | ".join(cells) + " |")
    cells = [f"**{st.median(r[i] for r in ratios[p]):.2f}**" for p in peers for i in range(3)]
    print("| median of the per-round ratios | " + " | ".join(cells) + " |")
    cells = []
    for p in peers:
        rk, pk = (b, "router"), (b, p)
        cells += [f"{med(rk, lambda r: r[0]) / med(pk, lambda r: r[0]):.2f}",
                  f"{med(rk, lambda r: r[2]) / med(pk, lambda r: r[2]):.2f}",
                  f"{med(rk, cpu) / med(pk, cpu):.2f}"]
    print("| ratio of the medians | " + " | ".join(cells) + " |\n")
    on, off = (b, "router-lines"), (b, "router")
    if on in by and off in by:
        print("Router lines (every request logged to logd) against the same router without them, same rounds "
              "(bar: requests/s ≥ 0.95, CPU per request ≤ 1.05):\n")
        print("| round | requests/s | p99 | CPU per request |")
        print("|---|---:|---:|---:|")
        rs = []
        for rnd in sorted(set(by[on]) & set(by[off])):
            r = [x / y for x, y in zip(measures(by[on][rnd]), measures(by[off][rnd]))]
            rs.append(r)
            print(f"| {rnd} | " + " | ".join(f"{x:.3f}" for x in r) + " |")
        print("| median | " + " | ".join(f"**{st.median(r[i] for r in rs):.3f}**" for i in range(3)) + " |\n")

small, large = ("hyper", "table-10"), ("hyper", f"table-{big}")
if small in by and large in by:
    print(f"Route table: {len(by[small])} rounds of `wrk -t1 -c{conns} -d{table_duration}` against each of two identical routers, "
          f"one holding 10 apps and one holding {apps}, requests spread over 10 apps, the two runs of a round back to back "
          "(bench-backend).\n")
    print("| route table | requests/s | p99 latency | CPU per request |")
    print("|---|---:|---:|---:|")
    for k in (small, large):
        print(f"| {10 if k == small else apps} apps | {med(k, lambda r: r[0]):,.0f} | {med(k, lambda r: r[2]):.0f} µs | {med(k, cpu):.1f} µs |")
    print(f"| ratio {apps} / 10 (medians) | {med(large, lambda r: r[0]) / med(small, lambda r: r[0]):.3f} "
          f"| {med(large, lambda r: r[2]) / med(small, lambda r: r[2]):.2f} | {med(large, cpu) / med(small, cpu):.3f} |")
    pairs = [(by[small][r], by[large][r]) for r in sorted(by[small]) if r in by[large]]
    ratio = [[x / y for x, y in zip(measures(l), measures(s))] for s, l in pairs]
    print(f"| ratio {apps} / 10 (median of the {len(pairs)} per-round ratios) | **{st.median(r[0] for r in ratio):.3f}** "
          f"| **{st.median(r[1] for r in ratio):.2f}** | **{st.median(r[2] for r in ratio):.3f}** |\n")

kv = dict(p.split("=") for p in latency.split())
print(f"Admin update → first request served by the new endpoint, at {apps} apps, {kv['updates']} updates: "
      f"p50 {float(kv['p50_ms']):.3f} ms, p99 {float(kv['p99_ms']):.3f} ms, max {float(kv['max_ms']):.3f} ms "
      f"(stale responses after the PUT returned: {kv['stale_responses']}). Router RSS with {apps} apps: {int(rss_kb)/1024:.0f} MiB.\n")
PY
  if [ -s "$OUT/callgrind.md" ]; then
    echo "#### Instructions per request (bench/callgrind.sh)"; echo
    sed '/^\*\*Machine:\*\*/{N;d}' "$OUT/callgrind.md"
  fi
} | tee "$OUT/router-results.md"
