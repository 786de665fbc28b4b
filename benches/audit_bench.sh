#!/usr/bin/env bash
# The throughput cost of one enabled file audit device: KV v2 reads with no audit device
# against the same reads with a `file` device, on mainkey and on OpenBao, in one run.
#
#   bash benches/audit_bench.sh          # ~3 min: builds release, starts both, runs wrk
#
# Each server (mainkey on redb, OpenBao on raft, both on disk, set up as benches/kv_bench.sh
# does) is measured in BENCH_ROUNDS rounds. A round runs wrk with no audit device, then
# enables `sys/audit/bench` (type file, a file in the scratch directory: every request and
# response is hashed and written as a JSON line), runs wrk again, and disables the device
# and removes its file. Alternating the two states on one server, round after round, keeps
# warm-up and machine noise from landing on one side. The median of the rounds is
# reported, with the ratio audit/none for each server and mainkey/OpenBao with audit on.
#
# OpenBao refuses API-created audit devices unless `unsafe_allow_api_audit_creation` is
# set, so its config sets it. Not part of the test run.
#
# Environment: BENCH_DURATION (8s), BENCH_CONNS ("16"), BENCH_ROUNDS (3), BENCH_THREADS
# (2), BENCH_WARMUP (2s), BENCH_OPS ("read tenant-read"), MAINKEY_BIN, BAO_BIN.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-8s}
CONNS=${BENCH_CONNS:-16}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2s}
export OPENBAO_EXTRA_CONFIG='unsafe_allow_api_audit_creation = true'

# shellcheck source-path=SCRIPTDIR source=lib/kv_setup.sh
. "$ROOT/benches/lib/kv_setup.sh"

release_binary

NAMES=(mainkey openbao)
start_mainkey mainkey "$MAINKEY_BIN"
start_openbao openbao
for n in "${NAMES[@]}"; do ready "$n"; done
write_wrk_scripts

audit() {  # name enable|disable: the file device sys/audit/bench
  local name=$1 file="$WORK/$1/audit.log" code
  if [ "$2" = enable ]; then
    code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X PUT -H "X-Vault-Token: ${TOKEN[$name]}" \
      -d "{\"type\":\"file\",\"options\":{\"file_path\":\"$file\"}}" "${URL[$name]}/v1/sys/audit/bench")
  else
    code=$(curl -s -o "$WORK/curl.out" -w '%{http_code}' -X DELETE -H "X-Vault-Token: ${TOKEN[$name]}" \
      "${URL[$name]}/v1/sys/audit/bench")
    rm -f "$file"
  fi
  case $code in 200 | 204) ;; *) echo "$name: audit $2 answered $code: $(cat "$WORK/curl.out")" >&2; exit 1 ;; esac
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo
machine_header "the cost of one file audit device, KV v2 reads"
echo "# wrk -t$THREADS -d$DURATION, median of $ROUNDS alternating rounds, 200-byte values, 127.0.0.1"
echo
echo "| op | conns | mainkey none req/s | mainkey audit req/s | mainkey audit/none | OpenBao none req/s | OpenBao audit req/s | OpenBao audit/none | mainkey/OpenBao, audit on |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
notes=()
for op in ${BENCH_OPS:-read tenant-read}; do
  for n in "${NAMES[@]}"; do run_wrk "$n" "$op" 16 "$WARMUP" > /dev/null; done
  for c in $CONNS; do
    declare -A MED
    for n in "${NAMES[@]}"; do
      none=() on=()
      for _ in $(seq 1 "$ROUNDS"); do
        for state in none on; do
          if [ "$state" = on ]; then audit "$n" enable; fi
          read -r rps _ non2xx sockerr _ < <(run_wrk "$n" "$op" "$c" "$DURATION")
          if [ "$state" = on ]; then
            [ -s "$WORK/$n/audit.log" ] || { echo "$n: the audit file stayed empty" >&2; exit 1; }
            audit "$n" disable
            on+=("$rps")
          else
            none+=("$rps")
          fi
          if [ "${non2xx:-0}" != 0 ] || [ "${sockerr:-0}" != 0 ]; then
            notes+=("$n $op c=$c audit=$state: $non2xx non-2xx answers, $sockerr socket errors")
          fi
        done
      done
      MED[$n.none]=$(median "${none[@]}")
      MED[$n.on]=$(median "${on[@]}")
    done
    python3 - "$op" "$c" "${MED[mainkey.none]}" "${MED[mainkey.on]}" "${MED[openbao.none]}" "${MED[openbao.on]}" <<'PYEOF'
import sys
op, c, mn, ma, on, oa = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
r = lambda a, b: f"{a / b:.2f}x" if b else "n/a"
print(f"| {op} | {c} | {mn:.0f} | {ma:.0f} | {r(ma, mn)} | {on:.0f} | {oa:.0f} | {r(oa, on)} | {r(ma, oa)} |")
PYEOF
  done
done
print_notes "${notes[@]}"
