# Shared setup of the KV v2 benchmarks (sourced by benches/kv_bench.sh and
# benches/kv_instructions.sh; not run on its own).
#
# After `. benches/lib/kv_setup.sh` from the repository root:
#   WORK            a fresh scratch directory, removed at exit with every server started
#   BAO             the OpenBao binary (BAO_BIN, .venv/bin/bao or bao on PATH)
#   URL[name] PID[name] TOKEN[name] TENANT[name]
#   start_mainkey NAME BIN [WRAPPER...]   redb on disk; WRAPPER (e.g. valgrind ...) runs BIN
#   start_openbao NAME                    raft on disk; OPENBAO_EXTRA_CONFIG is appended
#                                         to its config file
#   start_openbao_dev NAME                in memory, root token "root"
#   ready NAME [ROOT_TOKEN]               wait, init + unseal unless ROOT_TOKEN, KV v2 at
#                                         secret/, the read keys, the tenant login
#   write_wrk_scripts                     $WORK/{read,tenant-read,write}.lua
#   release_binary                        MAINKEY_BIN, or build target/release/mainkey
#   machine_header TITLE                  "# TITLE, date", the machine, both versions
#   print_notes NOTE...                   the errors seen during the runs, if any
#   run_wrk NAME OP CONNS DURATION        -> "rps p99ms non2xx sockerr requests"
# shellcheck shell=bash

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found: apt-get install -y curl" >&2; exit 1; }

THREADS=${BENCH_THREADS:-2}

BAO=${BAO_BIN:-}
if [ -z "$BAO" ]; then
  for cand in "$(pwd)/.venv/bin/bao" "$(command -v bao || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then BAO=$cand; break; fi
  done
fi
[ -n "$BAO" ] || { echo "bao not found: run bash tests/run once (it installs .venv), or set BAO_BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mainkey-bench.XXXXXX)
PIDS=()
declare -gA URL PID TOKEN TENANT
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {  # a free port whose successor (OpenBao's cluster port) is free too
  python3 - <<'EOF'
import socket
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    try:
        t = socket.socket(); t.bind(("127.0.0.1", p + 1)); t.close()
    except OSError:
        continue
    print(p); break
EOF
}

wait_http() {  # until anything answers on /v1/sys/health
  for _ in $(seq 1 "${2:-300}"); do
    if curl -s -o /dev/null "$1/v1/sys/health"; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}

# init (1 share) + unseal + KV v2 at secret/ + the read keys + a tenant login; prints the
# root token and the tenant's token.
prepare() {
  python3 - "$1" "${2:-}" <<'EOF'
import json, sys, time, urllib.request
url, token = sys.argv[1], sys.argv[2]
def call(method, path, body=None, tok=None, ok=(200, 204)):
    req = urllib.request.Request(f"{url}/v1/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if tok: req.add_header("X-Vault-Token", tok)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, (json.loads(r.read() or b"null"))
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
if not token:
    st, init = call("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
    assert st == 200, (st, init)
    token = init["root_token"]
    st, body = call("PUT", "sys/unseal", {"key": init["keys"][0]})
    assert st == 200 and body["sealed"] is False, body
    for _ in range(300):
        if call("GET", "sys/health")[0] == 200: break
        time.sleep(0.1)
    st, body = call("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, token)
    assert st in (200, 204), (st, body)
for _ in range(300):
    if call("GET", "secret/config", tok=token)[0] == 200: break
    time.sleep(0.1)
for key in ("k", "tenant/acme/k"):
    st, body = call("POST", f"secret/data/{key}", {"data": {"v": "r" * 200}}, token)
    assert st == 200, (st, body)
policy = 'path "secret/data/tenant/{{identity.entity.metadata.tenant}}/*" { capabilities = ["read"] }'
for method, path, body in [
    ("PUT", "sys/policy/tenant", {"policy": policy}),
    ("POST", "sys/auth/userpass", {"type": "userpass"}),
    ("POST", "auth/userpass/users/acme", {"password": "bench-pw", "policies": "tenant"}),
] + [("POST", f"identity/group/name/g{i}", {"policies": ["default"]}) for i in range(20)]:
    st, resp = call(method, path, body, token)
    assert st in (200, 204), (path, st, resp)
st, login = call("POST", "auth/userpass/login/acme", {"password": "bench-pw"})
assert st == 200, (st, login)
st, resp = call("POST", f"identity/entity/id/{login['auth']['entity_id']}",
                {"metadata": {"tenant": "acme"}}, token)
assert st in (200, 204), (st, resp)
tenant = login["auth"]["client_token"]
assert call("GET", "secret/data/tenant/acme/k", tok=tenant)[0] == 200
assert call("GET", "secret/data/k", tok=tenant)[0] == 403
print(token, tenant)
EOF
}

start() {  # name argv...: start in background, log to $WORK/name.log
  local name=$1; shift
  "$@" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  # shellcheck disable=SC2034 # PID is for the sourcing script
  PID[$name]=$!
  disown $!  # no job-control noise when cleanup kills it
}

start_mainkey() {  # name binary [wrapper argv...]: redb on disk
  local name=$1 bin=$2 p; shift 2
  p=$(free_port)
  mkdir -p "$WORK/$name"
  cat > "$WORK/$name/mainkey.hcl" <<EOF
storage "redb" {
  path = "$WORK/$name/mainkey.redb"
}
listener "tcp" {
  address     = "127.0.0.1:$p"
  tls_disable = true
}
EOF
  start "$name" "$@" "$bin" server --config "$WORK/$name/mainkey.hcl"
  URL[$name]=http://127.0.0.1:$p
}

start_openbao() {  # name: raft on disk
  local name=$1 p
  p=$(free_port)
  mkdir -p "$WORK/$name/raft"
  cat > "$WORK/$name/openbao.hcl" <<EOF
storage "raft" {
  path    = "$WORK/$name/raft"
  node_id = "bench"
}
listener "tcp" {
  address         = "127.0.0.1:$p"
  cluster_address = "127.0.0.1:$((p + 1))"
  tls_disable     = true
}
api_addr     = "http://127.0.0.1:$p"
cluster_addr = "https://127.0.0.1:$((p + 1))"
${OPENBAO_EXTRA_CONFIG:-}
EOF
  start "$name" "$BAO" server -config="$WORK/$name/openbao.hcl"
  URL[$name]=http://127.0.0.1:$p
}

start_openbao_dev() {  # name: in memory, root token "root"
  local name=$1 p
  p=$(free_port)
  start "$name" env HOME="$WORK" "$BAO" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$p" -dev-no-store-token
  URL[$name]=http://127.0.0.1:$p
}

ready() {  # name [root token]: wait for it, then prepare() it; sets TOKEN[name] TENANT[name]
  local name=$1 tokens
  wait_http "${URL[$name]}" "${BENCH_START_WAIT:-300}" || { tail -20 "$WORK/$name.log" >&2; exit 1; }
  tokens=$(prepare "${URL[$name]}" "${2:-}")
  read -r "TOKEN[$name]" "TENANT[$name]" <<< "$tokens"
}

write_wrk_scripts() {
  local result_fn='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end'
  cat > "$WORK/read.lua" <<EOF
wrk.method = "GET"
wrk.path = "/v1/secret/data/k"
$result_fn
EOF
  cat > "$WORK/tenant-read.lua" <<EOF
wrk.method = "GET"
wrk.path = "/v1/secret/data/tenant/acme/k"
$result_fn
EOF
  cat > "$WORK/write.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = '{"data":{"v":"' .. string.rep("w", 200) .. '"}}'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/secret/data/w" .. (n % 1000), nil, body)
end
$result_fn
EOF
}

# name op conns duration [command prefix...] -> "rps p99ms non2xx sockerr requests"; the
# prefix (e.g. perf stat -p PID --) runs wrk, and must leave wrk's stdout alone.
run_wrk() {
  local name=$1 op=$2 c=$3 d=$4 t=$THREADS token=${TOKEN[$1]}
  shift 4
  if [ "$c" -lt "$t" ]; then t=$c; fi
  if [ "$op" = tenant-read ]; then token=${TENANT[$name]}; fi
  "$@" wrk -t"$t" -c"$c" -d"$d" --timeout 10s -H "X-Vault-Token: $token" \
    -s "$WORK/$op.lua" "${URL[$name]}" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}

# Sets MAINKEY_BIN: as given, or a fresh release build.
release_binary() {
  if [ -z "${MAINKEY_BIN:-}" ]; then
    echo "== cargo build --release" >&2
    cargo build --release -j2 >&2
    MAINKEY_BIN=$(pwd)/target/release/mainkey
  fi
}

# The lines that head a result: what was measured, when, on what, with which versions.
machine_header() {
  echo "# $1, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
  echo "# $(timeout 5 "$MAINKEY_BIN" --version 2>/dev/null || echo "mainkey ?"), $("$BAO" version | head -1)"
}

# The non-2xx answers and socket errors seen during the runs, after the table.
print_notes() {
  [ $# -gt 0 ] || return 0
  echo
  echo "WARNING: errors during the runs (req/s then counts failures too):"
  printf '  %s\n' "$@"
}
