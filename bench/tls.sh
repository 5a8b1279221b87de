#!/usr/bin/env bash
# HTTPS benchmark (issue 12 item 5): slipway-router's TLS listener against nginx with the
# same certificate (ECDSA P-256, made here with openssl), in the same run, on the same app
# (an nginx `return 200` on the load core, kept alive by both proxies):
#   - full handshakes/s   `openssl s_time -new`   (a new session every connection)
#   - resumed handshakes/s `openssl s_time -reuse` (the session of the first connection)
#   - HTTPS requests/s over HTTP/1.1 keep-alive   `h2load --h1`
#   - HTTPS requests/s over HTTP/2                `h2load -m $STREAMS`
#   - the proxy's CPU time per request or handshake (/proc/<pid>/stat, before and after)
#   - h2load's p99 request time (its "time for request" max is not a p99; it prints
#     min/max/mean/sd, so the table shows mean and sd)
#
#   bench/tls.sh                                   # ROUNDS=5, release binaries
#   SMOKE=1 bench/tls.sh                           # 1 round, tiny loads, debug binaries: does it run?
#
# Rounds alternate the order (router first, then nginx first), so drift hits both alike;
# the table shows medians over rounds and the router/nginx ratio. The proxy under test is
# pinned to CPU $PROXY_CPU, the load tools and the app to $LOAD_CPU. Every load is bounded in
# requests (h2load -n) and time (s_time -time, and `timeout` around everything); the script
# stops what it started, also on failure or Ctrl-C. Results: bench/out/tls-results.md.
set -euo pipefail
trap 'echo "bench/tls.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  ROUNDS=${ROUNDS:-1} SECONDS_EACH=${SECONDS_EACH:-1} REQUESTS=${REQUESTS:-400} BUILD=${BUILD:-debug}
fi
ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-10}
REQUESTS=${REQUESTS:-200000}
CONNS=${CONNS:-32}
STREAMS=${STREAMS:-10}
BUILD=${BUILD:-release}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=bench/out
BIN=target/$BUILD
TOKEN=bench-admin-token-0123456789
APP=127.0.0.1:19501
ROUTER_HTTP=127.0.0.1:19580
ROUTER_HTTPS=127.0.0.1:19543
ADMIN=127.0.0.1:19590
NGINX=127.0.0.1:19643
ZONE=bench.localhost
HOST=app-0.$ZONE
BODY="hello from the app"

source bench/lib.sh
source bench/peers.sh
if ! command -v h2load >/dev/null; then
  echo "== installing nghttp2-client (h2load)" >&2
  apt-get install -y nghttp2-client >/dev/null
fi
need "apt-get install nginx-light openssl nghttp2-client util-linux python3 curl" nginx openssl h2load taskset python3 curl timeout
ulimit -n "$(ulimit -Hn)"
ports_free "${APP#*:}" "${ROUTER_HTTP#*:}" "${ROUTER_HTTPS#*:}" "${ADMIN#*:}" "${NGINX#*:}"
mkdir -p "$OUT/tls"
rm -f "$OUT/tls-runs.tsv"
if [ "$BUILD" = release ]; then
  echo "== building (release)" >&2
  cargo build --release --workspace --quiet
fi
[ -x "$BIN/slipway-router" ] || { echo "$me: no $BIN/slipway-router (build it first)" >&2; exit 1; }

# --- one certificate for both: *.zone and the default (s_time sends no SNI) ---------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=$ZONE" -addext "subjectAltName=DNS:*.$ZONE" \
  -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" 2>/dev/null

# --- the app (load core) -------------------------------------------------------------------
nginx_app_conf "$PWD/$OUT/tls/app" "$APP" "$BODY"
taskset -c "$LOAD_CPU" nginx -p "$PWD/$OUT/tls/app" -c "$PWD/$OUT/tls/app/nginx.conf" & pids+=($!)
wait_http "http://$APP/"

# --- the router: one worker, HTTPS with the certificate, app-0 on the app ------------------
router_conf "$OUT/tls/router.toml" "$ROUTER_HTTP" "$ADMIN" "$TOKEN"
sed -i "s|^http = \"$ROUTER_HTTP\"|&\nhttps = \"$ROUTER_HTTPS\"|" "$OUT/tls/router.toml"
cat >> "$OUT/tls/router.toml" <<TOML
[tls]
redirect = false
default_certificate = { cert = "$PWD/$OUT/tls/cert.pem", key = "$PWD/$OUT/tls/key.pem" }
[[tls.certificates]]
hosts = ["*.$ZONE"]
cert = "$PWD/$OUT/tls/cert.pem"
key = "$PWD/$OUT/tls/key.pem"
TOML
taskset -c "$PROXY_CPU" "$BIN/slipway-router" --config "$OUT/tls/router.toml" & router_pid=$!; pids+=($router_pid)
wait_http "http://$ADMIN/healthz"
curl -fsS -X PUT -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"endpoints\": [\"$APP\"]}" "http://$ADMIN/v1/routes/app-0" >/dev/null

# --- nginx: one worker, the same certificate, session cache and tickets, h2 ----------------
mkdir -p "$OUT/tls/nginx"
cat > "$OUT/tls/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $PWD/$OUT/tls/nginx/nginx.pid; error_log $PWD/$OUT/tls/nginx/error.log warn;
events { worker_connections 4096; }
http { access_log off; server_tokens off;
  client_body_temp_path $PWD/$OUT/tls/nginx/body; proxy_temp_path $PWD/$OUT/tls/nginx/proxy;
  keepalive_requests 1000;
  upstream app { server $APP; keepalive 320; keepalive_requests 10000; }
  server { listen $NGINX ssl http2 default_server; server_name *.$ZONE;
    ssl_certificate $PWD/$OUT/tls/cert.pem; ssl_certificate_key $PWD/$OUT/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme; } }
}
CONF
taskset -c "$PROXY_CPU" nginx -p "$PWD/$OUT/tls/nginx" -c "$PWD/$OUT/tls/nginx/nginx.conf" & nginx_pid=$!; pids+=($nginx_pid)
wait_tcp "${NGINX#*:}"

# Both answer the app over HTTPS with the same certificate.
for target in "$ROUTER_HTTPS" "$NGINX"; do
  got=$(curl -fsS --cacert "$OUT/tls/cert.pem" --resolve "$HOST:${target#*:}:127.0.0.1" "https://$HOST:${target#*:}/")
  [ "$got" = "$BODY" ] || { echo "$me: $target answers '$got', not '$BODY'" >&2; exit 1; }
done

# CPU ticks (user+system) of a process and its children (nginx's worker).
cpu_ticks() { # pid
  local total=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do read -r -a f < "/proc/$p/stat"; total=$((total + f[13] + f[14])); done
  echo "$total"
}

# One measurement; appends: target round kind per_second count cpu_ticks mean_us sd_us
measure() { # target addr pid kind
  local target=$1 addr=$2 pid=$3 kind=$4 before after out
  before=$(cpu_ticks "$pid")
  case $kind in
    full|resumed)
      local flag=-new; [ "$kind" = resumed ] && flag=-reuse
      out=$(timeout $((SECONDS_EACH + 30)) taskset -c "$LOAD_CPU" openssl s_time -connect "$addr" "$flag" -time "$SECONDS_EACH" 2>&1) ;;
    h1) out=$(timeout $((SECONDS_EACH * 10 + 60)) taskset -c "$LOAD_CPU" h2load --h1 -n "$REQUESTS" -c "$CONNS" -H ":authority: $HOST" "https://$addr/" 2>&1) ;;
    h2) out=$(timeout $((SECONDS_EACH * 10 + 60)) taskset -c "$LOAD_CPU" h2load -n "$REQUESTS" -c "$CONNS" -m "$STREAMS" -H ":authority: $HOST" "https://$addr/" 2>&1) ;;
  esac || { echo "$me: $kind against $target failed or overran:" >&2; echo "$out" >&2; exit 1; }
  after=$(cpu_ticks "$pid")
  python3 - "$target" "$round" "$kind" "$((after - before))" "$out" >> "$OUT/tls-runs.tsv" <<'PY'
import re, sys
target, rnd, kind, ticks, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
if kind in ("full", "resumed"):
    m = re.search(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec", out)
    if not m:
        sys.exit(f"bench/tls.sh: cannot read s_time's output:\n{out}")
    count, secs = int(m.group(1)), float(m.group(2))
    # s_time's "real seconds" line gives the wall time the rate is over.
    real = re.search(r"(\d+) connections in (\d+) real seconds", out)
    rate = count / float(real.group(2)) if real and float(real.group(2)) > 0 else count / max(secs, 1e-9)
    print(f"{target}\t{rnd}\t{kind}\t{rate:.1f}\t{count}\t{ticks}\t-\t-")
else:
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    lat = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)\s+(\S+)", out)
    if not (done and rps and lat) or int(done.group(3)) != 0:
        sys.exit(f"bench/tls.sh: h2load failed or cannot be read:\n{out}")
    def us(v):
        n, unit = re.match(r"([\d.]+)(us|ms|s)$", v).groups()
        return float(n) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
    print(f"{target}\t{rnd}\t{kind}\t{float(rps.group(1)):.1f}\t{done.group(2)}\t{ticks}\t{us(lat.group(1)):.0f}\t{us(lat.group(2)):.0f}")
PY
}

for round in $(seq 1 "$ROUNDS"); do
  order=("router $ROUTER_HTTPS $router_pid" "nginx $NGINX $nginx_pid")
  [ $((round % 2)) = 0 ] && order=("${order[1]}" "${order[0]}")
  for kind in full resumed h1 h2; do
    for t in "${order[@]}"; do
      read -r name addr pid <<< "$t"
      echo "== round $round/$ROUNDS: $kind, $name" >&2
      measure "$name" "$addr" "$pid" "$kind"
    done
  done
done

python3 - "$OUT/tls-runs.tsv" "$(getconf CLK_TCK)" > "$OUT/tls-results.md" <<'PY'
import statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
hz = int(sys.argv[2])
names = {"full": "full handshakes/s", "resumed": "resumed handshakes/s", "h1": "HTTPS req/s, HTTP/1.1 keep-alive", "h2": "HTTPS req/s, HTTP/2"}
print("| measure | router | nginx | router/nginx | router CPU µs/op | nginx CPU µs/op | router mean/sd µs | nginx mean/sd µs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for kind, label in names.items():
    def med(target, i, f=float):
        vals = [f(r[i]) for r in rows if r[0] == target and r[2] == kind and r[i] != "-"]
        return st.median(vals) if vals else float("nan")
    def cpu(target):
        per = [int(r[5]) / hz * 1e6 / max(int(r[4]), 1) for r in rows if r[0] == target and r[2] == kind]
        return st.median(per) if per else float("nan")
    ratios = []
    for rnd in sorted({r[1] for r in rows}):
        a = [float(r[3]) for r in rows if r[0] == "router" and r[1] == rnd and r[2] == kind]
        b = [float(r[3]) for r in rows if r[0] == "nginx" and r[1] == rnd and r[2] == kind]
        if a and b and b[0] > 0:
            ratios.append(a[0] / b[0])
    ratio = st.median(ratios) if ratios else float("nan")
    lat = lambda t: "-" if kind in ("full", "resumed") else f"{med(t, 6):.0f}/{med(t, 7):.0f}"
    print(f"| {label} | {med('router', 3):.0f} | {med('nginx', 3):.0f} | {ratio:.2f} | {cpu('router'):.1f} | {cpu('nginx'):.1f} | {lat('router')} | {lat('nginx')} |")
PY
{ echo; machine; echo "Rounds: $ROUNDS, ${SECONDS_EACH}s per s_time run, $REQUESTS requests per h2load run, $CONNS connections, $STREAMS streams (h2), binaries: $BUILD."; } >> "$OUT/tls-results.md"
cat "$OUT/tls-results.md"
