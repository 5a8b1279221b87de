#!/usr/bin/env bash
# Deterministic cost of a proxied request: user-space instructions per request, counted by
# callgrind, for one or more router binaries and for the peers (nginx configured as
# ingress-nginx runs it, haproxy with one thread), each under the same fixed load, on each
# backend. Noise cannot move these counts, so their ratios hold on any machine of the same
# instruction set (and two builds of the router compare exactly).
#
#   bench/callgrind.sh [ROUTER_BINARY...]     # default: $ROUTER_BIN, else target/release/slipway-router
#   ROUTER_BIN=/work/other/target/release/slipway-router bench/callgrind.sh
#   PEERS=  BACKENDS=hyper bench/callgrind.sh old/slipway-router new/slipway-router
#   REQUESTS=16000 CONNS=16 PEERS="nginx haproxy" BACKENDS="hyper nginx" (the defaults)
#   TABLE=1 bench/callgrind.sh [ROUTER_BINARY...]  # route-table size: 10 vs 100,000 apps
#   LINES=1 bench/callgrind.sh [ROUTER_BINARY...]  # router lines off vs on (every request logged)
#
# Switches: APPS=N loads N apps into the router (default 10; the peers always route 10);
# HOSTS=N spreads the load over apps app-0 .. app-N-1 (default 1: all to app-0), one h2load
# per host, each with CONNS/N connections, run together; CACHE=1 adds valgrind's cache
# simulation (`--cache-sim=yes`: first-level data and last-level misses per request, on
# valgrind's model of this machine's caches). TABLE=1 compares route-table sizes: each
# router binary counted with 10 and with $BIG_TABLE apps (default 100000), the load spread
# over 8 apps, with the cache simulation, no peers, the hyper backend (as PEERS= HOSTS=8
# CACHE=1 BACKENDS=hyper, with APPS taking both sizes). LINES=1 counts each router binary
# twice, with `[lines]` off and on (every request's line sent to a real slipway-logd on
# loopback, which is not counted), no peers, the hyper backend; the ratio row "(lines on) /
# ..." is the cost of router lines.
#
# Each proxy runs under `valgrind --tool=callgrind` as one process with one worker thread
# (the router with `workers = 1`; nginx with `master_process off; daemon off;`; haproxy
# with `nbthread 1` in the foreground), routing the same 10 apps with the same forwarding
# headers as in bench/router.sh (bench/peers.sh writes both scripts' configs). Once it
# serves, one request per connection warms its upstream connections, the counters are
# zeroed, h2load sends exactly $REQUESTS HTTP/1.1 requests over $CONNS keep-alive
# connections (1,000 per connection by default: nginx's keep-alive limit towards clients,
# so no client connection is reopened while counting), the counters are dumped and the
# total instruction count (Ir) is divided by the requests. Start-up and shutdown are not
# counted; the kernel's work (TCP) is not user space and is not counted. Everything
# listens on loopback, every h2load is bounded, and the script stops what it started.
# Takes about 35 s per proxy and backend here (3.5 minutes with the defaults).
set -euo pipefail
trap 'echo "bench/callgrind.sh: failed at line $LINENO" >&2' ERR
# Router binaries as given (relative to the caller's directory), before the cd below.
# shellcheck disable=SC2206 # ROUTER_BIN may name several binaries, separated by spaces
given=("$@"); [ ${#given[@]} -gt 0 ] || given=(${ROUTER_BIN:-})
binaries=()
for bin in "${given[@]}"; do binaries+=("$(realpath -m -- "$bin")"); done
cd "$(dirname "$0")/.."
[ ${#given[@]} -gt 0 ] || { given=(target/release/slipway-router); binaries=("$PWD/target/release/slipway-router"); }

REQUESTS=${REQUESTS:-16000}
CONNS=${CONNS:-16}
PEERS=${PEERS-nginx haproxy}
BACKENDS=${BACKENDS:-hyper nginx}
APPS=${APPS:-10}
HOSTS=${HOSTS:-1}
CACHE=${CACHE:-}
BIG_TABLE=${BIG_TABLE:-100000}
TABLES=$APPS
if [ -n "${TABLE:-}" ]; then PEERS=; BACKENDS=hyper; HOSTS=8; CACHE=1; TABLES="10 $BIG_TABLE"; fi
LINESETS=off
if [ -n "${LINES:-}" ]; then PEERS=; BACKENDS=hyper; LINESETS="off on"; fi
for n in $TABLES $HOSTS; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench/callgrind.sh: APPS, HOSTS and BIG_TABLE are whole numbers ≥ 1 (got '$n')" >&2; exit 1; }
done
for n in $TABLES; do
  [ "$HOSTS" -le "$n" ] || { echo "bench/callgrind.sh: HOSTS=$HOSTS is more than the $n apps loaded" >&2; exit 1; }
done
[ -z "$PEERS" ] || [ "$HOSTS" -le 10 ] || { echo "bench/callgrind.sh: the peers route 10 apps: HOSTS=$HOSTS is too many" >&2; exit 1; }
[ $((CONNS % HOSTS)) -eq 0 ] && [ $((REQUESTS % CONNS)) -eq 0 ] ||
  { echo "bench/callgrind.sh: CONNS ($CONNS) must divide by HOSTS ($HOSTS), REQUESTS ($REQUESTS) by CONNS" >&2; exit 1; }
OUT=bench/out/callgrind
# Loopback ports, checked free at start (not the 194xx of the script before issue 10, which
# other checkouts may still run without checking).
BACKEND=127.0.0.1:19601
NGINX_APP=127.0.0.1:19602
ROUTER=127.0.0.1:19680
ADMIN=127.0.0.1:19690
NGINX=127.0.0.1:19681
HAPROXY=127.0.0.1:19682
LOGD_FORWARD=127.0.0.1:19603
LOGD_HTTP=127.0.0.1:19604
TOKEN=bench-admin-token-0123456789
ZONE=bench.localhost
HOST=app-0.$ZONE
BODY="hello from backend a"

source bench/lib.sh
source bench/peers.sh
need "apt-get install valgrind nghttp2-client nginx-light haproxy curl" valgrind callgrind_control h2load curl timeout lscpu
for p in $PEERS; do
  case $p in nginx | haproxy) need "apt-get install $p" "$p" ;; *) echo "$me: unknown peer '$p' in PEERS (nginx, haproxy)" >&2; exit 1 ;; esac
done
ulimit -n "$(ulimit -Hn)"

for bin in "${binaries[@]}"; do [ -x "$bin" ] || { echo "$me: $bin is not an executable router binary" >&2; exit 1; }; done
[ -x target/release/bench-backend ] && [ -x target/release/route-load ] && [ -x target/release/slipway-logd ] ||
  cargo build --release --workspace --quiet
rm -rf "$OUT"; mkdir -p "$OUT"
ports_free "${BACKEND#*:}" "${NGINX_APP#*:}" "${ROUTER#*:}" "${ADMIN#*:}" "${NGINX#*:}" "${HAPROXY#*:}" \
  "${LOGD_FORWARD#*:}" "${LOGD_HTTP#*:}"
if [ "$LINESETS" != off ]; then
  logd_conf "$OUT/logd.toml" "$LOGD_FORWARD" "$LOGD_HTTP"
  target/release/slipway-logd --config "$OUT/logd.toml" > "$OUT/logd.log" 2>&1 & pids+=($!)
  wait_http "http://$LOGD_HTTP/healthz"
fi

target/release/bench-backend --listen "$BACKEND" --name "$BODY" & pids+=($!)
nginx_app_conf "$PWD/$OUT/nginx-app" "$NGINX_APP" "$BODY"
nginx -p "$PWD/$OUT/nginx-app" -c "$PWD/$OUT/nginx-app/nginx.conf" & pids+=($!)
wait_http "http://$BACKEND/"
wait_http "http://$NGINX_APP/"

# Sends exactly $1 requests over $CONNS connections to $2, spread over $HOSTS apps (one
# h2load per app, together); fails unless all answered 2xx.
load() { # requests url label
  local i dir="$OUT/load" out ok jobs=()
  mkdir -p "$dir"
  for i in $(seq 0 $((HOSTS - 1))); do
    timeout 1200 h2load --h1 -n $(($1 / HOSTS)) -c $((CONNS / HOSTS)) -H ":authority: app-$i.$ZONE" "$2" > "$dir/$i" 2>&1 &
    jobs+=($!)
  done
  for i in "${!jobs[@]}"; do
    wait "${jobs[$i]}" || { echo "$me: h2load against $3 (app-$i) failed or overran:" >&2; cat "$dir/$i" >&2; exit 1; }
    out=$(cat "$dir/$i")
    ok=$(echo "$out" | sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p')
    [ "$ok" = $(($1 / HOSTS)) ] ||
      { echo "$me: $3 answered $ok of $(($1 / HOSTS)) requests to app-$i with 2xx" >&2; echo "$out" >&2; exit 1; }
  done
}

# Sends callgrind a command (-z: zero the counters, -d: dump them); quiet unless it fails.
control() { # option pid
  local out
  out=$(timeout 60 callgrind_control "$1" "$2" 2>&1) || { echo "$me: callgrind_control $1 failed: $out" >&2; exit 1; }
}

# Runs one proxy under callgrind on one backend; sets COUNTS to its event names and
# totals ("Ir Dr ...=n n ...") over the measured requests.
# (Not called in $(...): a failure must stop the script, and its valgrind with it.)
count() { # kind(router|nginx|haproxy) backend-address [router-binary apps lines(off|on)]
  local kind=$1 addr=$2 bin=${3:-} apps=${4:-10} lines=${5:-off} dir="$PWD/$OUT/$1" url vg dump events totals
  local logd=; [ "$lines" = off ] || logd=$LOGD_FORWARD
  rm -f "$OUT"/callgrind.out.*
  local vg_args=(valgrind --tool=callgrind "--callgrind-out-file=$PWD/$OUT/callgrind.out.%p")
  [ -z "$CACHE" ] || vg_args+=(--cache-sim=yes)
  case $kind in
    router)
      mkdir -p "$dir"; router_conf "$dir/router.toml" "$ROUTER" "$ADMIN" "$TOKEN" "$logd"; url="http://$ROUTER/"
      "${vg_args[@]}" "$bin" --config "$dir/router.toml" > "$dir/log" 2>&1 & vg=$! ;;
    nginx)
      nginx_proxy_conf "$dir" "$NGINX" "$addr" callgrind; url="http://$NGINX/"
      "${vg_args[@]}" nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/log" 2>&1 & vg=$! ;;
    haproxy)
      haproxy_conf "$dir" "$HAPROXY" "$addr"; url="http://$HAPROXY/"
      "${vg_args[@]}" haproxy -db -f "$dir/haproxy.cfg" > "$dir/log" 2>&1 & vg=$! ;;
  esac
  pids+=($vg)
  if [ "$kind" = router ]; then
    wait_http "http://$ADMIN/readyz" 120
    target/release/route-load --admin "$ADMIN" --token "$TOKEN" --apps "$apps" --endpoint "$addr" >&2
  fi
  wait_http "$url" 120 -H "Host: $HOST"
  # Warm the upstream connections once, then count only the measured requests.
  load "$CONNS" "$url" "$kind"
  # Our process must be the one answering (it exits if it cannot bind its port).
  kill -0 "$vg" 2>/dev/null || { echo "$me: $kind under valgrind exited (see $dir/log)" >&2; exit 1; }
  control -z "$vg"
  load "$REQUESTS" "$url" "$kind"
  control -d "$vg"
  stop "$vg"
  # The dump taken after zeroing holds the measured requests (the final dump at exit
  # holds only the shutdown).
  dump=$(ls "$OUT"/callgrind.out.*.1 2>/dev/null | head -1)
  [ -n "$dump" ] || { echo "$me: callgrind wrote no dump for $kind (see $dir/log)" >&2; exit 1; }
  events=$(sed -n 's/^events: *//p' "$dump" | head -1)
  totals=$(sed -n 's/^summary: *//p' "$dump")
  [ -n "$totals" ] || totals=$(sed -n 's/^totals: *//p' "$dump")
  [[ ${totals%% *} =~ ^[0-9]+$ ]] || { echo "$me: no instruction total in $dump" >&2; exit 1; }
  COUNTS="$events=$totals"
}

# rows: proxy-label <tab> backend <tab> event names=totals
results="$OUT/results.tsv"
: > "$results"
for b in $BACKENDS; do
  case $b in hyper) addr=$BACKEND ;; nginx) addr=$NGINX_APP ;; *) echo "$me: unknown backend '$b' in BACKENDS (hyper, nginx)" >&2; exit 1 ;; esac
  for i in "${!binaries[@]}"; do
    for apps in $TABLES; do
      for lines in $LINESETS; do
        label="router ${given[$i]}"
        [ "$TABLES" = 10 ] || label+=" ($(echo "$apps" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') apps)"
        [ "$LINESETS" = off ] || label+=" (lines $lines)"
        echo "   counting $label on the $b backend" >&2
        count router "$addr" "${binaries[$i]}" "$apps" "$lines"
        printf '%s\t%s\t%s\n' "$label" "$b" "$COUNTS" >> "$results"
      done
    done
  done
  for p in $PEERS; do
    echo "   counting $p on the $b backend" >&2
    count "$p" "$addr"
    printf '%s\t%s\t%s\n' "$p" "$b" "$COUNTS" >> "$results"
  done
done

machine
echo
versions="valgrind $(valgrind --version | sed 's/^valgrind-//'), h2load $(h2load --version | sed -n 's/.*nghttp2\/\([^ ]*\).*/\1/p')"
for p in $PEERS; do
  case $p in
    nginx) versions+=", nginx $(nginx -v 2>&1 | sed 's|.*/||')" ;;
    haproxy) versions+=", haproxy $(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')" ;;
  esac
done
python3 - "$results" "$REQUESTS" "$CONNS" "$HOSTS" "$versions" <<'PY'
import sys
results, requests, conns, hosts, versions = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
counts, proxies, backends = {}, [], []
for line in open(results):
    proxy, backend, cell = line.rstrip("\n").split("\t")
    names, totals = cell.split("=")
    counts[(proxy, backend)] = dict(zip(names.split(), map(int, totals.split())))
    proxies += [proxy] if proxy not in proxies else []
    backends += [backend] if backend not in backends else []
ir = {k: v["Ir"] // requests for k, v in counts.items()}
label = {"hyper": "bench-backend (hyper)", "nginx": "nginx `return 200`"}
spread = "" if hosts == 1 else f", spread over {hosts} apps (one h2load each)"
print(f"User-space instructions per proxied request under callgrind ({versions}): `h2load --h1 -n {requests:,} -c {conns}` "
      f"after one warm-up request per connection{spread}; one process, one worker thread each.\n")
print("| proxy | " + " | ".join(f"backend: {label.get(b, b)}" for b in backends) + " |")
print("|---|" + "---:|" * len(backends))
for p in proxies:
    print(f"| {p} | " + " | ".join(f"{ir[(p, b)]:,}" if (p, b) in ir else "" for b in backends) + " |")
routers = [p for p in proxies if p.startswith("router ")]
for r in routers:
    for peer in (p for p in proxies if not p.startswith("router ")):
        name = "router" if len(routers) == 1 else r
        cells = [f"**{ir[(r, b)] / ir[(peer, b)]:.3f}**" if (r, b) in ir and (peer, b) in ir else "" for b in backends]
        print(f"| ratio {name} / {peer} | " + " | ".join(cells) + " |")
if len(routers) > 1:
    for r in routers[1:]:
        cells = [f"{ir[(r, b)] / ir[(routers[0], b)]:.3f}" if (r, b) in ir and (routers[0], b) in ir else "" for b in backends]
        print(f"| ratio {r} / {routers[0]} | " + " | ".join(cells) + " |")
if all("D1mr" in c for c in counts.values()):
    print("\nCache simulation (valgrind `--cache-sim=yes`, its model of this machine's caches), misses per request:\n")
    print("| proxy | backend | I1 misses | D1 misses (read + write) | last-level misses (instr + data) |")
    print("|---|---|---:|---:|---:|")
    for (p, b), c in counts.items():
        d1 = (c["D1mr"] + c["D1mw"]) / requests
        ll = (c["ILmr"] + c["DLmr"] + c["DLmw"]) / requests
        print(f"| {p} | {b} | {c['I1mr'] / requests:.1f} | {d1:.1f} | {ll:.2f} |")
PY
