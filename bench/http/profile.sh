#!/usr/bin/env bash
# bench/http/profile.sh [--bin-dir DIR] [--out DIR] [--seconds S] [--connections C]
#                       [--tool perf|callgrind|sched|allocs] [--no-hot-cache] [--threads N]
#
# Profiles l0l3-gateway on the hit path under wrk load (the same stack and
# requests as run.sh). perf samples cpu-clock (hardware counters are not
# available in this VM) with DWARF call graphs and writes flat ("self") and
# inclusive ("children") reports; callgrind runs the gateway under valgrind at
# low load and writes callgrind_annotate output; sched records scheduler events
# of the whole machine (perf sched) to show which process waited for a CPU and
# how long (the tail latency's usual cause on 2 shared cores); allocs counts the
# gateway's malloc calls per request (a uprobe on libc's malloc) and reports
# where they come from. Results go to --out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=${L0L3_BIN_DIR:-$repo/build/default/bin}
out=""
seconds=8
connections=32
tool=perf
threads=1
gateway_flags=()
expected_tier=L0.5
while (($#)); do
  case $1 in
    --bin-dir) bin_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --connections) connections=$2; shift ;;
    --tool) tool=$2; shift ;;
    --threads) threads=$2; shift ;;
    --no-hot-cache) gateway_flags+=(--no-hot-cache); expected_tier=L0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n $out ]] || out=$repo/build/bench-results/profile-$tool-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# shellcheck source=bench/http/stack.sh disable=SC2154  # its variables are set by its functions
source "$here/stack.sh"
export L0L3_BENCH_LUA_DIR=$here
export L0L3_BENCH_REQUESTS=$here/requests.jsonl
url=http://127.0.0.1
run_wrk() { # port, seconds, connections
  wrk -t1 -c"$3" -d"$2s" --latency -s "$here/hit.lua" "$url:$1/v1/chat/completions"
}

start_redis
seed_entries "$out/keys.txt"
start_stub

# The gateway under wrk load for the recording's seconds (+2), in steady state.
start_loaded_gateway() {
  start_gateway profiled "${gateway_flags[@]}"
  probe "$gateway_port" hit L0
  probe "$gateway_port" hit "$expected_tier"
  run_wrk "$gateway_port" $((seconds + 2)) "$connections" >"$out/wrk.txt" 2>&1 &
  wrk_pid=$!
  pids+=("$wrk_pid")
  sleep 1 # let wrk open its connections; the samples should be steady state
}

case $tool in
  perf)
    start_loaded_gateway
    perf record -e cpu-clock -F 499 --call-graph dwarf,8192 -p "$gateway_pid" -o "$out/perf.data" \
      -- sleep "$seconds" >"$out/perf-record.log" 2>&1
    wait "$wrk_pid" || true
    perf report -i "$out/perf.data" --no-children --stdio --sort dso,symbol -g none --percent-limit 0.5 \
      >"$out/perf-self.txt" 2>/dev/null
    perf report -i "$out/perf.data" --children --stdio --sort symbol -g none --percent-limit 3 \
      >"$out/perf-children.txt" 2>/dev/null
    echo "== wrk"; grep -E 'Requests/sec|^L0L3_RESULT' "$out/wrk.txt" || true
    echo "== perf, self time (top 40)"
    grep -v -e '^#' -e '^$' "$out/perf-self.txt" | sed 's/  */ /g; s/ - - *$//' | sed -n '1,40p' || true
    ;;
  callgrind)
    log=$tmp/gateway-callgrind.log
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
      "$bin_dir/l0l3-gateway" --listen 127.0.0.1:0 --region bench \
      --replica "redis://127.0.0.1:$redis_port" --primary "redis://127.0.0.1:$redis_port" \
      --upstream "http://127.0.0.1:$stub_port/v1" --threads "$threads" "${gateway_flags[@]}" >"$log" 2>&1 &
    gateway_pid=$!
    pids+=("$gateway_pid")
    gateway_port=$(wait_listening "$log" "$gateway_pid") || die "l0l3-gateway did not start under valgrind"
    probe "$gateway_port" hit L0
    probe "$gateway_port" hit "$expected_tier"
    run_wrk "$gateway_port" "$seconds" 4 >"$out/wrk.txt" 2>&1
    stop "$gateway_pid" # callgrind writes its output when the gateway exits
    callgrind_annotate --inclusive=no "$out/callgrind.out" >"$out/callgrind-self.txt" 2>/dev/null
    callgrind_annotate --inclusive=yes "$out/callgrind.out" >"$out/callgrind-inclusive.txt" 2>/dev/null
    echo "== wrk (under valgrind)"; grep -E 'Requests/sec|^L0L3_RESULT' "$out/wrk.txt" || true
    echo "== callgrind, self (top)"; sed -n '20,60p' "$out/callgrind-self.txt"
    ;;
  sched)
    start_loaded_gateway
    perf sched record -a -o "$out/sched.data" -- sleep "$seconds" >"$out/perf-record.log" 2>&1
    wait "$wrk_pid" || true
    perf sched latency -i "$out/sched.data" --sort max >"$out/sched-latency.txt" 2>/dev/null
    perf sched timehist -i "$out/sched.data" -w >"$out/sched-timehist.txt" 2>/dev/null || true
    echo "== wrk"; grep -E 'Requests/sec|^L0L3_RESULT|99%' "$out/wrk.txt" || true
    echo "== perf sched latency (waits for a CPU, worst first)"; sed -n '1,14p' "$out/sched-latency.txt"
    ;;
  allocs)
    libc=$(ldd "$bin_dir/l0l3-gateway" | awk '$1 ~ /^libc\.so/ {print $3}')
    [[ -n $libc ]] || die "no libc in ldd's output for l0l3-gateway"
    perf probe -l 2>/dev/null | grep -q 'probe_libc:malloc ' || perf probe -q -x "$libc" --add malloc >/dev/null 2>&1 ||
      die "perf probe cannot add a uprobe on malloc in $libc"
    requests() { # chat completions answered so far, from the gateway's own counter
      curl -fsS "$url:$gateway_port/metrics" | awk '/^l0l3_requests_total\{/ {n += $NF} END {printf "%d", n}'
    }
    start_loaded_gateway
    # Counted exactly (perf stat), then sampled with call stacks for where they come from.
    before=$(requests)
    perf stat -e probe_libc:malloc -x, -o "$out/allocs-count.csv" -p "$gateway_pid" -- sleep "$seconds" >/dev/null 2>&1
    after=$(requests)
    perf record -e probe_libc:malloc --call-graph dwarf,8192 -p "$gateway_pid" -o "$out/allocs.data" \
      -- sleep 1 >"$out/perf-record.log" 2>&1
    wait "$wrk_pid" || true
    perf report -i "$out/allocs.data" --no-children --stdio -G --percent-limit 2 >"$out/allocs-callers.txt" 2>/dev/null
    mallocs=$(awk -F, '$3 ~ /probe_libc:malloc/ {print $1 + 0}' "$out/allocs-count.csv")
    echo "== wrk"; grep -E 'Requests/sec|^L0L3_RESULT' "$out/wrk.txt" || true
    awk -v m="${mallocs:-0}" -v r=$((after - before)) 'BEGIN {
      printf "== malloc calls: %d over %d requests in %s s (metrics scrapes included): %.3f per request\n", m, r, '"$seconds"', (r > 0 ? m / r : 0) }'
    echo "== callers (perf report -G, allocs-callers.txt)"; grep -v '^#' "$out/allocs-callers.txt" | grep -v '^$' | sed -n '1,60p'
    ;;
  *) die "unknown --tool $tool (perf, callgrind, sched or allocs)" ;;
esac
echo "profile output: $out"
