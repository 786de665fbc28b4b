#!/usr/bin/env bash
# KV v2 read/write throughput: mainkey vs OpenBao on this machine, in one run.
#
#   bash benches/kv_bench.sh            # ~3 min: builds release, starts both, runs wrk
#
# Both servers keep their data on disk and are initialised and unsealed the same way:
#   mainkey   server --config, storage "redb" (fsync'd commits)
#   OpenBao   bao server -config, storage "raft" (OpenBao 2.x has no "file" storage;
#             raft is its durable single-node storage)
# plus, for reference, an OpenBao dev server (in memory) unless BENCH_OPENBAO_DEV=0.
#
# Loads: GET /v1/secret/data/k (a 200-byte value) with the root token; the same GET of
# secret/data/tenant/acme/k with a userpass login's token whose templated policy allows
# only its entity's tenant (entity metadata tenant=acme, 20 groups in the identity store):
# the seed-001 decision path; and POST /v1/secret/data/w<N>
# (a 200-byte value, N cycling over 1000 keys), each for BENCH_DURATION at each of
# BENCH_CONNS connections, with wrk on 127.0.0.1 only. Prints req/s, p99 latency,
# non-2xx counts and the ratio mainkey/OpenBao. Not part of the test run.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNS ("1 16 64"), BENCH_THREADS (2),
# BENCH_WARMUP (2s), BENCH_OPENBAO_DEV (1), BENCH_OPS ("read tenant-read write"),
# MAINKEY_BIN, BAO_BIN.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-"1 16 64"}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
WITH_DEV=${BENCH_OPENBAO_DEV:-1}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found: apt-get install -y curl" >&2; exit 1; }

BAO=${BAO_BIN:-}
if [ -z "$BAO" ]; then
  for cand in "$ROOT/.venv/bin/bao" "$(command -v bao || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then BAO=$cand; break; fi
  done
fi
[ -n "$BAO" ] || { echo "bao not found: run bash tests/run once (it installs .venv), or set BAO_BIN" >&2; exit 1; }

if [ -z "${MAINKEY_BIN:-}" ]; then
  echo "== cargo build --release" >&2
  cargo build --release -j2 >&2
  MAINKEY_BIN=$ROOT/target/release/mainkey
fi

WORK=$(mktemp -d /tmp/mainkey-bench.XXXXXX)
PIDS=()
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
  for _ in $(seq 1 300); do
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
        with urllib.request.urlopen(req, timeout=10) as r:
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
  disown $!  # no job-control noise when cleanup kills it
}

declare -A URL TOKEN TENANT
NAMES=(mainkey openbao)

# ---- mainkey, redb on disk
p=$(free_port)
mkdir -p "$WORK/mainkey"
cat > "$WORK/mainkey/mainkey.hcl" <<EOF
storage "redb" {
  path = "$WORK/mainkey/mainkey.redb"
}
listener "tcp" {
  address     = "127.0.0.1:$p"
  tls_disable = true
}
EOF
start mainkey "$MAINKEY_BIN" server --config "$WORK/mainkey/mainkey.hcl"
URL[mainkey]=http://127.0.0.1:$p

# ---- OpenBao, raft on disk
p=$(free_port)
mkdir -p "$WORK/openbao/raft"
cat > "$WORK/openbao/openbao.hcl" <<EOF
storage "raft" {
  path    = "$WORK/openbao/raft"
  node_id = "bench"
}
listener "tcp" {
  address         = "127.0.0.1:$p"
  cluster_address = "127.0.0.1:$((p + 1))"
  tls_disable     = true
}
api_addr     = "http://127.0.0.1:$p"
cluster_addr = "https://127.0.0.1:$((p + 1))"
EOF
start openbao "$BAO" server -config="$WORK/openbao/openbao.hcl"
URL[openbao]=http://127.0.0.1:$p

# ---- OpenBao dev, in memory (reference only)
if [ "$WITH_DEV" = 1 ]; then
  p=$(free_port)
  start openbao-dev env HOME="$WORK" "$BAO" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$p" -dev-no-store-token
  URL[openbao-dev]=http://127.0.0.1:$p
  NAMES+=(openbao-dev)
fi

for n in "${NAMES[@]}"; do
  wait_http "${URL[$n]}" || { tail -20 "$WORK/$n.log" >&2; exit 1; }
  if [ "$n" = openbao-dev ]; then tokens=$(prepare "${URL[$n]}" root); else tokens=$(prepare "${URL[$n]}"); fi
  read -r "TOKEN[$n]" "TENANT[$n]" <<< "$tokens"
done

# ---- wrk scripts
RESULT_FN='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end'
cat > "$WORK/read.lua" <<EOF
wrk.method = "GET"
wrk.path = "/v1/secret/data/k"
$RESULT_FN
EOF
cat > "$WORK/tenant-read.lua" <<EOF
wrk.method = "GET"
wrk.path = "/v1/secret/data/tenant/acme/k"
$RESULT_FN
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
$RESULT_FN
EOF

run_wrk() {  # name op conns duration -> "rps p99ms non2xx sockerr"
  local name=$1 op=$2 c=$3 d=$4 t=$THREADS token=${TOKEN[$1]}
  if [ "$c" -lt "$t" ]; then t=$c; fi
  if [ "$op" = tenant-read ]; then token=${TENANT[$name]}; fi
  wrk -t"$t" -c"$c" -d"$d" --timeout 10s -H "X-Vault-Token: $token" \
    -s "$WORK/$op.lua" "${URL[$name]}" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}

echo
echo "# mainkey vs OpenBao, KV v2, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "# $(timeout 5 "$MAINKEY_BIN" --version 2>/dev/null || echo "mainkey ?"), $("$BAO" version | head -1)"
echo "# wrk -t$THREADS -d$DURATION, 200-byte values, 127.0.0.1"
echo
header="| op | conns | mainkey req/s | mainkey p99 ms | OpenBao raft req/s | OpenBao p99 ms | mainkey/OpenBao |"
sep="|---|---:|---:|---:|---:|---:|---:|"
if [ "$WITH_DEV" = 1 ]; then
  header+=" OpenBao dev (inmem) req/s | dev p99 ms |"
  sep+="---:|---:|"
fi
echo "$header"
echo "$sep"
notes=()
for op in ${BENCH_OPS:-read tenant-read write}; do
  for n in "${NAMES[@]}"; do run_wrk "$n" "$op" 16 "$WARMUP" > /dev/null; done
  for c in $CONNS; do
    declare -A RPS P99
    for n in "${NAMES[@]}"; do
      read -r rps p99 non2xx sockerr < <(run_wrk "$n" "$op" "$c" "$DURATION")
      RPS[$n]=$rps; P99[$n]=$p99
      if [ "${non2xx:-0}" != 0 ] || [ "${sockerr:-0}" != 0 ]; then
        notes+=("$n $op c=$c: $non2xx non-2xx answers, $sockerr socket errors")
      fi
    done
    ratio=$(python3 -c "print(f'{${RPS[mainkey]} / ${RPS[openbao]}:.2f}x' if ${RPS[openbao]} else 'n/a')")
    row="| $op | $c | ${RPS[mainkey]} | ${P99[mainkey]} | ${RPS[openbao]} | ${P99[openbao]} | $ratio |"
    if [ "$WITH_DEV" = 1 ]; then row+=" ${RPS[openbao-dev]} | ${P99[openbao-dev]} |"; fi
    echo "$row"
  done
done
if [ ${#notes[@]} -gt 0 ]; then
  echo
  echo "WARNING: errors during the runs (req/s then counts failures too):"
  printf '  %s\n' "${notes[@]}"
fi
