# The proxies and backends the router benchmarks run side by side (sourced by
# bench/router.sh and bench/callgrind.sh, not run): one function per config file, so the
# timed run and the instruction count measure the same configurations. Each writes into
# a directory it is given; all of them listen on loopback only.
#
# Every proxy routes by Host to the same 10 apps (app-0 .. app-9 of $ZONE, all on one
# backend address) plus, when given an echo address, app `echo` (used once, before any
# measurement, to check that all of them forward the same headers), keeps its upstream
# connections alive, logs no requests and sets X-Forwarded-For/-Proto/-Host/-Port and
# X-Request-Id like the router does.

# The router's config: one worker, no access log.
router_conf() { # file listen admin token [logd-forward: router lines on, every request, to it]
  cat > "$1" <<TOML
workers = 1
zones = ["$ZONE"]
access_log = false
log_level = "warn"
[listen]
http = "$2"
admin = "$3"
[admin]
token = "$4"
TOML
  [ -z "${5:-}" ] || printf '[lines]\nenabled = true\nlogd = "%s"\nsample = 1.0\n' "$5" >> "$1"
}

# A logd for router lines (in memory, warnings only), listening for Fluent forward on $2.
logd_conf() { # file forward http
  cat > "$1" <<TOML
log_level = "warn"
[listen]
forward = "$2"
http = "$3"
[auth]
admin_token = "bench-logd-token-0123456789"
TOML
}

# nginx as ingress-nginx runs it: one worker, `server_name` per host, the forwarding
# headers and request id ingress-nginx sets, upstream keep-alive with ingress-nginx's
# defaults (upstream-keepalive-connections 320, upstream-keepalive-requests 10000;
# keep-alive-requests 1000 towards clients, which is also nginx's own default).
# Mode `timed` runs a master and one worker like a deployment; `callgrind` runs a single
# process (`master_process off; daemon off;`) so valgrind sees the process that works.
nginx_proxy_conf() { # dir listen backend mode [echo-backend]
  local dir=$1 listen=$2 backend=$3 mode=$4 echo=${5:-} i hosts=()
  mkdir -p "$dir"
  for i in $(seq 0 9); do hosts+=("app-$i=$backend"); done
  [ -n "$echo" ] && hosts+=("echo=$echo")
  {
    [ "$mode" = callgrind ] && echo "master_process off;"
    echo "worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; keepalive_requests 1000;"
    echo "  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;"
    for h in "${hosts[@]}"; do
      echo "  upstream ${h%%=*} { server ${h#*=}; keepalive 320; keepalive_requests 10000; }"
      echo "  server { listen $listen; server_name ${h%%=*}.$ZONE;"
      echo "    location / { proxy_pass http://${h%%=*}; proxy_http_version 1.1; proxy_set_header Connection \"\";"
      echo "      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
      echo "      proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host;"
      echo "      proxy_set_header X-Forwarded-Port \$server_port; proxy_set_header X-Request-Id \$request_id; } }"
    done
    echo "  server { listen $listen default_server; return 404; }"
    echo "}"
  } > "$dir/nginx.conf"
}

# haproxy (Debian's): one thread, host → backend through a map, `http-reuse always`
# (idle upstream connections shared by all clients), the same forwarding headers, a UUID
# request id. maxconn 8000 fits the open-files limit here (20000: two sockets per
# connection plus spares).
haproxy_conf() { # dir listen backend [echo-backend]
  local dir=$1 listen=$2 backend=$3 echo=${4:-} i hosts=()
  mkdir -p "$dir"
  for i in $(seq 0 9); do hosts+=("app-$i=$backend"); done
  [ -n "$echo" ] && hosts+=("echo=$echo")
  : > "$dir/hosts.map"
  for h in "${hosts[@]}"; do echo "${h%%=*}.$ZONE ${h%%=*}" >> "$dir/hosts.map"; done
  {
    echo "global"
    echo "  nbthread 1"
    echo "  maxconn 8000"
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 3s"
    echo "  timeout client 60s"
    echo "  timeout server 60s"
    echo "  timeout http-request 10s"
    echo "  timeout http-keep-alive 60s"
    echo "  http-reuse always"
    echo "frontend edge"
    echo "  bind $listen"
    echo "  option forwardfor"
    echo "  unique-id-format %[uuid()]"
    echo "  unique-id-header X-Request-Id"
    echo "  http-request set-header X-Forwarded-Proto http"
    echo "  http-request set-header X-Forwarded-Host %[req.hdr(host)]"
    echo "  http-request set-header X-Forwarded-Port %[dst_port]"
    echo "  use_backend %[req.hdr(host),lower,field(1,:),map($dir/hosts.map,unknown)]"
    echo "backend unknown"
    echo "  http-request return status 404"
    for h in "${hosts[@]}"; do
      echo "backend ${h%%=*}"
      echo "  server s ${h#*=}"
    done
  } > "$dir/haproxy.cfg"
}

# An nginx serving as an app: `return 200` with the body bench-backend sends, keep-alive
# without a request limit (like bench-backend), so no proxy has to reconnect to it.
nginx_app_conf() { # dir listen body
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/error.log warn;
events { worker_connections 4096; }
http { access_log off; server_tokens off; default_type text/plain;
  keepalive_requests 100000000; keepalive_timeout 300s;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  server { listen $2; location / { return 200 "$3"; } }
}
CONF
}

# Checks that a proxy answers app-0 with the backend's body and forwards the five headers
# to the echo app; keeps what the echo app saw in $out.
check_proxy() { # name url body out
  local name=$1 url=$2 body=$3 out=$4 got h
  got=$(curl -fsS --max-time 10 -H "Host: app-0.$ZONE" "$url") || { echo "$me: $name did not answer app-0" >&2; exit 1; }
  [ "$got" = "$body" ] || { echo "$me: $name answered app-0 with '$got', not '$body'" >&2; exit 1; }
  curl -fsS --max-time 10 -H "Host: echo.$ZONE" "$url" > "$out" || { echo "$me: $name did not answer echo" >&2; exit 1; }
  for h in x-forwarded-for x-forwarded-proto x-forwarded-host x-forwarded-port x-request-id; do
    grep -qi "^$h: ." "$out" || { echo "$me: $name does not forward $h (it sent: $(tr '\n' ' ' < "$out"))" >&2; exit 1; }
  done
}
