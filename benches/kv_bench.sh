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
WARMUP=${BENCH_WARMUP:-2s}
WITH_DEV=${BENCH_OPENBAO_DEV:-1}

# shellcheck source-path=SCRIPTDIR source=lib/kv_setup.sh
. "$ROOT/benches/lib/kv_setup.sh"

release_binary

NAMES=(mainkey openbao)
start_mainkey mainkey "$MAINKEY_BIN"
start_openbao openbao
if [ "$WITH_DEV" = 1 ]; then  # OpenBao dev, in memory (reference only)
  start_openbao_dev openbao-dev
  NAMES+=(openbao-dev)
fi
for n in "${NAMES[@]}"; do
  if [ "$n" = openbao-dev ]; then ready "$n" root; else ready "$n"; fi
done
write_wrk_scripts

echo
machine_header "mainkey vs OpenBao, KV v2"
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
      read -r rps p99 non2xx sockerr _ < <(run_wrk "$n" "$op" "$c" "$DURATION")
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
print_notes "${notes[@]}"
