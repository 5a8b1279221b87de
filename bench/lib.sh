# Shared by the bench/*.sh scripts (sourced, not run): cleanup of background processes,
# tool checks and readiness waits. Messages name the script that sourced this file.
me="bench/${0##*/}"

# Pids of background processes to stop on exit (scripts append with `pids+=($!)`).
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Stops with a hint unless every named tool is installed.
need() { # "install hint" tool...
  local hint=$1; shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$me: needs $tool ($hint)" >&2; exit 1; }
  done
}

# Waits (10 s at most) until the URL answers 2xx.
wait_http() { # url
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "$me: $1 never answered" >&2; exit 1
}

# Waits (10 s at most) until something accepts TCP connections on 127.0.0.1:port.
wait_tcp() { # port
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "$me: nothing listens on 127.0.0.1:$1" >&2; return 1
}
