#!/usr/bin/env bash
# Add-on benchmark (issue 11 item 6): time from `slipway addons create` to ready for each
# kind and plan (shared and dedicated PostgreSQL and Redis), and from `apps create` of an
# app with two add-ons to the first 200 from its URL through a router; side by side, the
# raw operations the providers wrap, run by hand in the same round:
#   postgres shared     createuser + createdb (the admin's), and CREATE ROLE + DATABASE in one psql
#   redis shared        ACL SETUSER with redis-cli
#   postgres dedicated  initdb + pg_ctl start -w
#   redis dedicated     redis-server started until PING answers PONG
# so Slipway's own overhead is visible. Bars: shared ready <= 1 s, dedicated <= 5 s.
#
#   bench/addons.sh                    # ROUNDS=5 by default (about 2-4 minutes)
#   ROUNDS=9 PROFILE=debug bench/addons.sh
#
# Everything runs on loopback ports 19500-19599 (checked free first) and stops by itself:
# a PostgreSQL 15 and a Redis 7 as the shared servers, slipway server placing add-ons on
# them, a router following its route stream. Needs Debian's postgresql, redis-server and
# redis-tools. Results: bench/out/addons-results.md (paste into bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
PROFILE=${PROFILE:-release}
OUT=$PWD/bench/out/addons
BIN=$PWD/target/$PROFILE
PGBIN=/usr/lib/postgresql/15/bin
TOKEN=bench-addons-token-0123456789
API=127.0.0.1:19500
ROUTER=127.0.0.1:19580
ROUTER_ADMIN=127.0.0.1:19590
PG_PORT=19532
REDIS_PORT=19579
RAW_PG_PORT=19533
RAW_REDIS_PORT=19578
ZONE=bench.localhost

source bench/lib.sh
need "apt-get install postgresql" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/createuser" "$PGBIN/createdb" psql
need "apt-get install redis-server redis-tools" redis-server redis-cli
need "apt-get install curl python3" curl python3
ports_free 19500 19580 19590 $PG_PORT $REDIS_PORT $RAW_PG_PORT $RAW_REDIS_PORT

rm -rf "$OUT"; mkdir -p "$OUT"
if [ "$PROFILE" = release ]; then
  echo "== building (release)" >&2
  cargo build --release --workspace --quiet
fi

# initdb and postgres refuse root: run them as the postgres user in directories it owns.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
give_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$@"; fi; }

# The shared PostgreSQL (password auth over TCP) and Redis (requirepass).
PG_PASSWORD=bench-pg-admin-password
mkdir -p "$OUT/pg"; echo "$PG_PASSWORD" > "$OUT/pg/pw"; give_pg "$OUT/pg"
as_pg "$PGBIN/initdb" -D "$OUT/pg/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile "$OUT/pg/pw" --no-sync --no-instructions > "$OUT/pg-initdb.log" 2>&1
as_pg "$PGBIN/postgres" -D "$OUT/pg/data" -p $PG_PORT -k "$OUT/pg" -c listen_addresses=127.0.0.1 \
  -c max_connections=200 > "$OUT/pg.log" 2>&1 & pids+=($!)
wait_tcp $PG_PORT
REDIS_PASSWORD=bench-redis-admin-password
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no --requirepass "$REDIS_PASSWORD" \
  > "$OUT/redis.log" 2>&1 & pids+=($!)
wait_tcp $REDIS_PORT

cat > "$OUT/control.toml" <<TOML
data_dir = "$OUT/data"
log_level = "warn"
[listen]
api = "$API"
[auth]
token = "$TOKEN"
[apps]
zones = ["$ZONE"]
url = "http://{app}.$ZONE"
[addons.postgres]
servers = ["postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"]
[addons.redis]
servers = ["redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT"]
TOML
"$BIN/slipway" server --config "$OUT/control.toml" > "$OUT/control.log" 2>&1 & pids+=($!)
wait_http "http://$API/healthz" 30
cat > "$OUT/router.toml" <<TOML
workers = 1
zones = ["$ZONE"]
access_log = false
log_level = "warn"
[listen]
http = "$ROUTER"
admin = "$ROUTER_ADMIN"
[control]
url = "http://$API"
token = "$TOKEN"
TOML
"$BIN/slipway-router" --config "$OUT/router.toml" > "$OUT/router.log" 2>&1 & pids+=($!)
wait_http "http://$ROUTER_ADMIN/readyz" 30

echo "== $ROUNDS rounds" >&2
export SLIPWAY_API_URL=http://$API SLIPWAY_TOKEN=$TOKEN BIN PGBIN OUT ROUNDS ROUTER ZONE PG_PORT REDIS_PORT \
  RAW_PG_PORT RAW_REDIS_PORT PG_PASSWORD REDIS_PASSWORD PROFILE
python3 - <<'PY' | tee "$OUT/../addons-results.md"
import os, shutil, socket, statistics, subprocess, sys, time, urllib.request

env = os.environ
BIN, PGBIN, OUT = env["BIN"], env["PGBIN"], env["OUT"]
ROUNDS = int(env["ROUNDS"])
slipway = f"{BIN}/slipway"
root = os.geteuid() == 0
pg_admin = dict(os.environ, PGPASSWORD=env["PG_PASSWORD"])


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def timed(cmd, **kw):
    start = time.monotonic()
    run(cmd, **kw)
    return time.monotonic() - start


def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if root else cmd


def ping(port, password=None):
    """PING over a raw socket; True once the answer is +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if password:
                s.sendall(f"AUTH {password}\r\n".encode())
                s.recv(64)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def create(app, kind, plan):
    return timed([slipway, "addons", "create", kind, "--plan", plan, "--as", f"{kind}-{plan}-{app}", "--app", app])


def destroy(app, kind, plan):
    run([slipway, "addons", "destroy", f"{kind}-{plan}-{app}", "--confirm", app])


psql_admin = ["psql", "-h", "127.0.0.1", "-p", env["PG_PORT"], "-U", "postgres", "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1"]
redis_admin = ["redis-cli", "-h", "127.0.0.1", "-p", env["REDIS_PORT"]]
redis_env = dict(os.environ, REDISCLI_AUTH=env["REDIS_PASSWORD"])


def raw_pg_shared(n):
    conn = ["-h", "127.0.0.1", "-p", env["PG_PORT"], "-U", "postgres"]
    t = timed([f"{PGBIN}/createuser"] + conn + [f"raw_a_{n}"], env=pg_admin)
    t += timed([f"{PGBIN}/createdb"] + conn + ["-O", f"raw_a_{n}", f"raw_a_{n}"], env=pg_admin)
    one = timed(psql_admin + ["-c", f"CREATE ROLE raw_b_{n} LOGIN PASSWORD 'x'", "-c", f"CREATE DATABASE raw_b_{n} OWNER raw_b_{n}"], env=pg_admin)
    for r in (f"raw_a_{n}", f"raw_b_{n}"):
        run(psql_admin + ["-c", f"DROP DATABASE {r}", "-c", f"DROP ROLE {r}"], env=pg_admin)
    return t, one


def raw_redis_shared(n):
    t = timed(redis_admin + ["ACL", "SETUSER", f"raw{n}", "on", ">pw", f"~raw{n}:*", "+@all"], env=redis_env)
    run(redis_admin + ["ACL", "DELUSER", f"raw{n}"], env=redis_env)
    return t


def raw_pg_dedicated(n):
    d = f"{OUT}/raw-pg-{n}"
    os.makedirs(d)
    if root:
        shutil.chown(d, "postgres")
    start = time.monotonic()
    run(as_pg([f"{PGBIN}/initdb", "-D", f"{d}/data", "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"]))
    run(as_pg([f"{PGBIN}/pg_ctl", "-D", f"{d}/data", "-w", "-l", f"{d}/log", "-o", f"-p {env['RAW_PG_PORT']} -k {d} -c listen_addresses=127.0.0.1", "start"]))
    t = time.monotonic() - start
    run(as_pg([f"{PGBIN}/pg_ctl", "-D", f"{d}/data", "-m", "immediate", "-w", "stop"]))
    shutil.rmtree(d)
    return t


def raw_redis_dedicated(n):
    port = int(env["RAW_REDIS_PORT"])
    start = time.monotonic()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = start + 10
        while not ping(port):
            if time.monotonic() > deadline:
                sys.exit("bench/addons.sh: the raw redis-server never answered PONG")
            time.sleep(0.002)
        return time.monotonic() - start
    finally:
        p.terminate()
        p.wait()


def app_to_serving(n):
    app = f"two{n}"
    demo = os.path.join(os.getcwd(), "config", "demo-app")
    url = f"http://{env['ROUTER']}/"
    start = time.monotonic()
    run([slipway, "apps", "create", app])
    run([slipway, "addons", "create", "postgres", "--app", app])
    run([slipway, "addons", "create", "redis", "--app", app])
    run([slipway, "deploy", demo, "--app", app])
    deadline = start + 60
    while True:
        try:
            req = urllib.request.Request(url, headers={"Host": f"{app}.{env['ZONE']}"})
            if urllib.request.urlopen(req, timeout=2).status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"bench/addons.sh: {app} never answered 200")
        time.sleep(0.005)
    t = time.monotonic() - start
    run([slipway, "apps", "destroy", "--app", app, "--confirm", app])
    return t


cases = [("postgres", "shared"), ("redis", "shared"), ("postgres", "dedicated"), ("redis", "dedicated")]
rows = {c: [] for c in cases}
raw = {"pg_tools": [], "pg_psql": [], "redis_acl": [], "pg_initdb": [], "redis_start": []}
apps = []
for n in range(ROUNDS):
    app = f"bench{n}"
    run([slipway, "apps", "create", app])
    # The order rotates per round, so no case always runs right after another.
    for kind, plan in cases[n % 4:] + cases[:n % 4]:
        rows[(kind, plan)].append(create(app, kind, plan))
        destroy(app, kind, plan)
    t, one = raw_pg_shared(n)
    raw["pg_tools"].append(t)
    raw["pg_psql"].append(one)
    raw["redis_acl"].append(raw_redis_shared(n))
    raw["pg_initdb"].append(raw_pg_dedicated(n))
    raw["redis_start"].append(raw_redis_dedicated(n))
    run([slipway, "apps", "destroy", "--app", app, "--confirm", app])
    apps.append(app_to_serving(n))
    print(f"round {n + 1}/{ROUNDS} done", file=sys.stderr)

ms = lambda v: f"{v * 1000:.0f}"
per = lambda vs: " / ".join(ms(v) for v in vs)
med = statistics.median
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[:3]
print(f"Machine: {os.cpu_count()} cores ({cpu}). Load average at the end: {' '.join(load)}. "
      f"One run of `bench/addons.sh` (ROUNDS={ROUNDS}, PROFILE={env['PROFILE']}); times in ms, per round in order, "
      "median first. `addons create` is the CLI waiting until the add-on is ready (the API's `?wait=true`), "
      "which includes the release it makes with the add-on's vars.\n")
print("| operation | median ms | per round (ms) | raw operation it wraps | raw median ms | per round (ms) | slipway / raw | bar |")
print("|---|---:|---|---|---:|---|---:|---|")
pairs = {
    ("postgres", "shared"): ("createuser + createdb (2 processes)", raw["pg_tools"], 1.0),
    ("redis", "shared"): ("redis-cli ACL SETUSER", raw["redis_acl"], 1.0),
    ("postgres", "dedicated"): ("initdb + pg_ctl start -w", raw["pg_initdb"], 5.0),
    ("redis", "dedicated"): ("redis-server to PONG", raw["redis_start"], 5.0),
}
for (kind, plan), (what, raws, bar) in pairs.items():
    got = rows[(kind, plan)]
    verdict = f"<= {bar:.0f} s: {'met' if med(got) <= bar else 'NOT met'}"
    print(f"| `addons create {kind} --plan {plan}` | {ms(med(got))} | {per(got)} | {what} | {ms(med(raws))} | {per(raws)} | {med(got) / med(raws):.1f}x | {verdict} |")
print(f"| (same, raw in one psql) | | | CREATE ROLE + CREATE DATABASE | {ms(med(raw['pg_psql']))} | {per(raw['pg_psql'])} | {med(rows[('postgres', 'shared')]) / med(raw['pg_psql']):.1f}x | |")
floor = med(raw["pg_tools"]) + med(raw["redis_acl"])
print(f"| app with postgres + redis (shared), `apps create` to first 200 through the router | {ms(med(apps))} | {per(apps)} | the two raw shared operations | {ms(floor)} | | {med(apps) / floor:.1f}x | |")
PY
