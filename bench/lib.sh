# Shared by the bench/*.sh scripts (sourced, not run): cleanup of background processes,
# tool checks, readiness waits and the machine description. Messages name the script that
# sourced this file.
me="bench/${0##*/}"

# Pids of background processes to stop on exit (scripts append with `pids+=($!)`).
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# Ctrl-C or a kill ends the script through its EXIT trap, so what it started stops too.
trap 'exit 130' INT TERM

# Stops background processes started by this script (and forgets them).
stop() { # pid...
  local pid keep=() p
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for p in "${pids[@]}"; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# Stops with a hint unless every named tool is installed.
need() { # "install hint" tool...
  local hint=$1; shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$me: needs $tool ($hint)" >&2; exit 1; }
  done
}

# Waits until the URL answers 2xx (default 10 s at most), with curl's extra arguments.
wait_http() { # url [seconds [curl args...]]
  local url=$1 secs=${2:-10}; shift; shift || true
  for _ in $(seq 1 $((secs * 20))); do curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0; sleep 0.05; done
  echo "$me: $url never answered" >&2; exit 1
}

# Waits (10 s at most) until something accepts TCP connections on 127.0.0.1:port.
wait_tcp() { # port
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "$me: nothing listens on 127.0.0.1:$1" >&2; return 1
}

# Stops unless nothing listens on these 127.0.0.1 ports: a benchmark run from another
# checkout uses the same ones, and its processes would answer in place of ours.
ports_free() { # port...
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$me: 127.0.0.1:$port is in use (another benchmark running?): stop it or wait" >&2; exit 1
    fi
  done
}

# A whole-number duration like 10s, 2m or 500 (seconds) in seconds (milliseconds round up).
seconds() { # duration
  case $1 in *ms) echo $(( (${1%ms} + 999) / 1000 )) ;; *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac
}

# The machine a run was made on, in one Markdown line: the CPU model (lscpu's "Model
# name"), whether it has the SIMD extensions that change code paths (AVX2, AVX-512), cores,
# memory, kernel.
machine() {
  local model flags simd="" f
  model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
  flags=" $(lscpu | sed -n 's/^Flags: *//p') "
  for f in avx2 avx512f; do
    if [[ $flags == *" $f "* ]]; then simd+="$f yes, "; else simd+="$f no, "; fi
  done
  echo "**Machine:** ${model:-unknown CPU}; ${simd}$(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)."
}
