#!/usr/bin/env bash
# CPU work per KV v2 request: two mainkey binaries (before/after a change) and OpenBao raft,
# in one run. Wall-clock req/s on a shared 2-core machine moves by 30% between runs; the CPU
# a server spends per answered request moves far less, so this is what compares binaries.
#
#   MAINKEY_BIN_BEFORE=/tmp/mainkey-before MAINKEY_BIN_AFTER=/tmp/mainkey-after \
#     BAO_BIN=.../bao bash benches/kv_instructions.sh            # ~6 min
#
# Servers, storage and loads as in benches/kv_bench.sh (benches/lib/kv_setup.sh): redb on
# disk for mainkey, raft on disk for OpenBao; read (root token), tenant-read (a userpass
# token with a templated policy), write (POST, 1000 keys), 200-byte values, wrk on
# 127.0.0.1 at BENCH_CONNS connections.
#
# Two measurements:
# 1. CPU time: every server runs natively; for each op, after a BENCH_WARMUP load on each,
#    the servers take turns in BENCH_ORDER, each under a BENCH_DURATION wrk load while
#    `perf stat -e task-clock -p PID` counts its CPU time (all its threads, including
#    those started during the load), and /proc/PID/stat gives the user/kernel split.
#    Divided by the requests wrk completed. Includes whatever the kernel charges to the
#    server's threads (its syscalls, part of the loopback TCP work, fsync).
# 2. Instructions: perf cannot count them in a VM without a PMU, so each mainkey binary
#    also runs under callgrind (`--instr-atstart=no`); for each op and round, after a 1 s
#    warmup, callgrind_control switches counting on and zeroes it, wrk loads the server
#    for BENCH_CG_DURATION, and the dump gives the user-space instructions executed (Ir),
#    divided by the requests. Exact and repeatable, but user space only, and the code runs
#    as valgrind's CPU allows (no SHA-NI, for one: the portable paths). OpenBao (Go) crashes
#    under callgrind, so it has CPU time only. BENCH_CG=0 skips this part.
#
# Environment: MAINKEY_BIN_BEFORE, MAINKEY_BIN_AFTER (both required), BAO_BIN,
# BENCH_DURATION (8s), BENCH_WARMUP (2s), BENCH_CONNS (16), BENCH_THREADS (2),
# BENCH_ORDER ("before after openbao before after"), BENCH_OPS ("read tenant-read write"),
# BENCH_CPU (1; 0 skips part 1), BENCH_CG (1), BENCH_CG_DURATION (8s), BENCH_CG_ROUNDS (3),
# BENCH_CG_CONNS (BENCH_CONNS). Writes at many connections share group commits, so their
# instructions per request move with the batch sizes of the moment; at 1 connection they
# do not.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNS:-16}
ORDER=${BENCH_ORDER:-"before after openbao before after"}
OPS=${BENCH_OPS:-"read tenant-read write"}
WITH_CG=${BENCH_CG:-1}
CG_DURATION=${BENCH_CG_DURATION:-8s}
CG_ROUNDS=${BENCH_CG_ROUNDS:-3}
CG_CONNS=${BENCH_CG_CONNS:-$CONNS}
WITH_CPU=${BENCH_CPU:-1}
: "${MAINKEY_BIN_BEFORE:?set MAINKEY_BIN_BEFORE to the mainkey binary before the change}"
: "${MAINKEY_BIN_AFTER:?set MAINKEY_BIN_AFTER to the mainkey binary after the change}"
command -v perf >/dev/null || { echo "perf not found: apt-get install -y linux-perf" >&2; exit 1; }
if [ "$WITH_CG" = 1 ]; then
  command -v callgrind_control >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
fi

# shellcheck source-path=SCRIPTDIR source=lib/kv_setup.sh
. "$ROOT/benches/lib/kv_setup.sh"
write_wrk_scripts
declare -A BIN=([before]=$MAINKEY_BIN_BEFORE [after]=$MAINKEY_BIN_AFTER)
TICK=$(getconf CLK_TCK)

cpu_ticks() {  # pid -> "utime stime" in clock ticks, all threads, dead ones included
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}

sha() { sha256sum "$1" | cut -c1-12; }

steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }  # time the hypervisor took away
STEAL0=$(steal_ticks)

echo "# CPU work per request, KV v2, mainkey before/after and OpenBao raft, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in before after; do
  echo "# $n: ${BIN[$n]} (sha256 $(sha "${BIN[$n]}")), $(timeout 5 "${BIN[$n]}" --version 2>/dev/null || echo "mainkey ?")"
done
echo "# openbao: $BAO (sha256 $(sha "$BAO")), $("$BAO" version | head -1)"
echo "# wrk -t$THREADS -c$CONNS, $DURATION per cell after $WARMUP warmup, order: $ORDER; 200-byte values, 127.0.0.1"
if [ "$WITH_CG" = 1 ]; then
  echo "# callgrind: wrk -c$CG_CONNS, $CG_DURATION per cell after 1s warmup, $CG_ROUNDS rounds of before, after"
fi

# ---- 1. CPU time, native
ROWS=$WORK/cpu.tsv
: > "$ROWS"
if [ "$WITH_CPU" = 1 ]; then
start_mainkey before "${BIN[before]}"
start_mainkey after "${BIN[after]}"
start_openbao openbao
for n in before after openbao; do ready "$n"; done
for op in $OPS; do
  for n in before after openbao; do run_wrk "$n" "$op" "$CONNS" "$WARMUP" > /dev/null; done
  declare -A RUN=()
  for n in $ORDER; do
    RUN[$n]=$(( ${RUN[$n]:-0} + 1 ))
    read -r u0 s0 < <(cpu_ticks "${PID[$n]}")
    read -r rps _ non2xx sockerr requests < <(run_wrk "$n" "$op" "$CONNS" "$DURATION" \
      perf stat -e task-clock -p "${PID[$n]}" -x, -o "$WORK/perf.txt" --)
    read -r u1 s1 < <(cpu_ticks "${PID[$n]}")
    ms=$(awk -F, '$3 ~ /^task-clock/ {print $1}' "$WORK/perf.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$n" "${RUN[$n]}" "$requests" "$rps" "$ms" \
      "$(( (u1 - u0) * 1000 / TICK ))" "$(( (s1 - s0) * 1000 / TICK ))" "$non2xx/$sockerr" >> "$ROWS"
  done
done
for n in before after openbao; do kill "${PID[$n]}" 2>/dev/null || true; done
fi

# ---- 2. instructions, mainkey under callgrind
CG_ROWS=$WORK/cg.tsv
: > "$CG_ROWS"
cg() {  # name command...: a callgrind_control command, poking the server until it is taken
  local n=$1 c; shift
  callgrind_control "$@" "${PID[$n]}" > "$WORK/cgctl.out" 2>&1 &
  c=$!
  # callgrind reads commands when the guest runs: wake an idle server with a request
  while kill -0 "$c" 2>/dev/null; do curl -s -o /dev/null "${URL[$n]}/v1/sys/health"; sleep 0.2; done
  wait "$c" || { cat "$WORK/cgctl.out" >&2; return 1; }
}
if [ "$WITH_CG" = 1 ]; then
  for n in before after; do
    start_mainkey "cg-$n" "${BIN[$n]}" valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$WORK/cg-$n.out"
  done
  for n in before after; do
    URL[$n]=${URL[cg-$n]}; PID[$n]=${PID[cg-$n]}
    BENCH_START_WAIT=1200 ready "$n"
  done
  for op in $OPS; do
    for round in $(seq 1 "$CG_ROUNDS"); do
      for n in before after; do
        run_wrk "$n" "$op" "$CG_CONNS" 1s > /dev/null
        rm -f "$WORK/cg-$n.out"*
        cg "$n" --instr=on
        cg "$n" --zero
        read -r rps _ non2xx sockerr requests < <(run_wrk "$n" "$op" "$CG_CONNS" "$CG_DURATION")
        cg "$n" --dump
        cg "$n" --instr=off
        ir=$(cat "$WORK/cg-$n.out"* | awk '/^totals:/ {t += $2} /^summary:/ {s += $2} END {print (t ? t : s) + 0}')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$n" "$round" "$requests" "$rps" "$ir" "$non2xx/$sockerr" >> "$CG_ROWS"
      done
    done
  done
fi

echo "# measured until $(date -u +%H:%MZ); CPU time stolen by the hypervisor meanwhile:" \
  "$(( ($(steal_ticks) - STEAL0) * 1000 / TICK )) ms; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$ROWS" "$CG_ROWS" "$OPS" <<'EOF'
import sys
from statistics import mean
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
cg_rows = [l.split("\t") for l in open(sys.argv[2]).read().splitlines()]
ops = sys.argv[3].split()
label = {"before": "mainkey before", "after": "mainkey after", "openbao": "OpenBao raft"}

def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "n/a"

def spread(v):  # (max - min) / mean, in %
    return f"{(max(v) - min(v)) / mean(v) * 100:.1f}%" if len(v) > 1 else "-"

if rows:
    print("\nCPU time (perf task-clock, /proc user/kernel split) per request:\n")
    print("| op | server | run | requests | req/s | task-clock µs/req | user µs/req | kernel µs/req | non-2xx/socket errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    per = {}
    for op, n, run, req, rps, ms, u, k, err in rows:
        req = int(req)
        us = float(ms) * 1000 / req
        per.setdefault((op, n), []).append(us)
        print(f"| {op} | {label[n]} | {run} | {req} | {float(rps):.0f} | {us:.2f} | "
              f"{int(u) * 1000 / req:.2f} | {int(k) * 1000 / req:.2f} | {err} |")
    print("\nSummary, task-clock µs/request (mean of runs; spread = (max-min)/mean):\n")
    print("| op | before | spread | after | spread | after/before | OpenBao raft | before/OpenBao | after/OpenBao |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for op in ops:
        v = {n: per.get((op, n), [0]) for n in ("before", "after", "openbao")}
        b, a, o = (mean(v[n]) for n in ("before", "after", "openbao"))
        print(f"| {op} | {b:.2f} | {spread(v['before'])} | {a:.2f} | {spread(v['after'])} | "
              f"{ratio(a, b)} | {o:.2f} | {ratio(b, o)} | {ratio(a, o)} |")

if cg_rows:
    print("\nUser-space instructions per request (callgrind Ir), mainkey only:\n")
    print("| op | server | round | requests | instructions/req | non-2xx/socket errors |")
    print("|---|---|---:|---:|---:|---|")
    ir = {}
    for op, n, rnd, req, rps, total, err in cg_rows:
        v = int(total) / int(req)
        ir.setdefault((op, n), []).append(v)
        print(f"| {op} | {label[n]} | {rnd} | {req} | {v:.0f} | {err} |")
    print("\nSummary, instructions/request (mean of rounds; spread = (max-min)/mean):\n")
    print("| op | before | spread | after | spread | after/before |")
    print("|---|---:|---:|---:|---:|---:|")
    for op in ops:
        v = {n: ir.get((op, n), [0]) for n in ("before", "after")}
        b, a = mean(v["before"]), mean(v["after"])
        print(f"| {op} | {b:.0f} | {spread(v['before'])} | {a:.0f} | {spread(v['after'])} | {ratio(a, b)} |")
EOF
