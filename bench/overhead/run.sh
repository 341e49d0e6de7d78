#!/usr/bin/env bash
# bench/overhead/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [--duration S] [--rates "500 2000 5000"]
#                       [--stub-latency-ms MS] [--connections N] [--threads N] [--pin]
#
# What a miss costs in the gateway, against the upstream alone, in one run.
# Starts on loopback: redis-server (no persistence, the l0l3 Redis function
# loaded, proposal limits raised so that every miss writes its proposal),
# l0l3-stub-llm (--latency-ms MS, default 20) and l0l3-gateway. At each rate,
# l0l3-openload sends the same open-loop load (fixed rate, latency from each
# request's intended start, every prompt distinct so every gateway request is
# a miss) first straight to the stub, then through the gateway, and the table
# gives the gateway's added p50/p99 (gateway minus direct), its CPU time per
# miss (utime+stime from /proc/PID/stat around the run, over the misses
# /metrics counted), Redis' CPU per miss and the mean of
# l0l3_gateway_overhead_seconds over the run. A rate is marked saturated when
# either side answered fewer than 95% of the target rate, left requests
# unanswered, or queued more requests than it has connections.
# --pin: the gateway alone on the last CPU, everything else (generator, stub,
# Redis) on the others, with taskset; the gateway's threads default to 1 then.
# --smoke: one rate (200/s) for 1 s; fails unless both sides ran without
# errors, every gateway answer was a miss and the table was produced.
# Every process it starts is stopped on exit. Needs jq, redis-server, curl.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

smoke=0
bin_dir=${L0L3_BIN_DIR:-$repo/build/default/bin}
out=""
duration=10
rates="500 2000 5000"
stub_latency=20
connections=256
threads=$(nproc); ((threads <= 4)) || threads=4 # the gateway's own default
threads_given=0
pin=0

usage() { sed -n '2,3p' "$0" | sed 's/^# //'; }
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --bin-dir) bin_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --duration) duration=$2; shift ;;
    --rates) rates=$2; shift ;;
    --stub-latency-ms) stub_latency=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; threads_given=1; shift ;;
    --pin) pin=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if ((smoke)); then
  duration=1; rates=200; connections=32
fi

# --pin: the gateway gets the last CPU to itself; the rest of the machine runs everything else.
run_other=()
if ((pin)); then
  command -v taskset >/dev/null || { echo "run.sh: --pin needs taskset" >&2; exit 1; }
  ncpu=$(nproc)
  ((ncpu >= 2)) || { echo "run.sh: --pin needs 2 CPUs" >&2; exit 1; }
  gateway_cpu=$((ncpu - 1))
  other_cpus=0
  ((ncpu == 2)) || other_cpus=0-$((ncpu - 2))
  run_other=(taskset -c "$other_cpus")
  ((threads_given)) || threads=1
fi
pin_to() { # pid, cpu list: every thread of the process
  ((pin)) || return 0
  taskset -a -p -c "$2" "$1" >/dev/null || die "taskset failed for pid $1"
}

for tool in jq redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
for b in l0l3-gateway l0l3-stub-llm l0l3-openload; do
  [[ -x $bin_dir/$b ]] || { echo "run.sh: $bin_dir/$b not built" >&2; exit 1; }
done

[[ -n $out ]] || out=$repo/build/bench-results/overhead-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/raw"
out=$(cd "$out" && pwd)

# Process handling (start, port discovery, clean-exit checks) is the HTTP benchmark's.
# shellcheck source=bench/http/stack.sh disable=SC2154
source "$repo/bench/http/stack.sh"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, after the ")" fields
metric() { # port, name, label filter (a regex on the label set)
  curl -sS --max-time 5 "http://127.0.0.1:$1/metrics" \
    | awk -v n="$2" -v f="$3" '$1 ~ "^" n "(\\{|$)" && $1 ~ f {s += $2} END {printf "%.9f\n", s + 0}'
}

start_redis
pin_to "$redis_pid" "${other_cpus:-}"
# The Redis function the gateways FCALL for every first miss, as the console loads it.
awk '/kLibrary = R"lua\(/{on=1; sub(/.*R"lua\(/, ""); print; next} /^\)lua";/{on=0} on' \
  "$repo/core/common/proposalfunction.h" >"$tmp/l0l3.lua"
head -1 "$tmp/l0l3.lua" | grep -q '^#!lua name=l0l3' || die "could not extract the Redis function library"
redis-cli -p "$redis_port" -x FUNCTION LOAD REPLACE <"$tmp/l0l3.lua" >/dev/null || die "FUNCTION LOAD failed"
# Per-namespace and global proposal rates (default 600 and 1200 a minute) and the inbox
# (10,000) would refuse almost every proposal at these rates: the refusal is cheaper than
# the write, so the bench would flatter the gateway. Raised so that every miss proposes.
redis-cli -p "$redis_port" HSET l0l3:v1:proposal-limits ns_per_min 1000000000 total_per_min 1000000000 \
  inbox_max_len 1000000000 >/dev/null

"$bin_dir/l0l3-stub-llm" --listen 127.0.0.1:0 --latency-ms "$stub_latency" >"$tmp/stub.log" 2>&1 &
stub_pid=$!
pids+=("$stub_pid")
pin_to "$stub_pid" "${other_cpus:-}"
expect_clean_exit "$stub_pid" "l0l3-stub-llm (log $tmp/stub.log)"
stub_port=$(wait_listening "$tmp/stub.log" "$stub_pid") || die "l0l3-stub-llm did not start"
start_gateway overhead
pin_to "$gateway_pid" "${gateway_cpu:-}"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "stub latency: $stub_latency ms; gateway threads: $threads; connections: $connections; duration: $duration s per run"
  if ((pin)); then
    echo "pinned: gateway on CPU $gateway_cpu, generator, stub and Redis on CPU $other_cpus"
  else
    echo "pinned: no"
  fi
} >"$out/machine.txt"

load() { # name, port, rate, tag, extra args...
  local name=$1 port=$2 rate=$3 tag=$4; shift 4
  "${run_other[@]}" "$bin_dir/l0l3-openload" --target "http://127.0.0.1:$port/v1/chat/completions" --rate "$rate" \
    --duration "$duration" --connections "$connections" --tag "$tag" "$@" >"$out/raw/$name.json" \
    || die "l0l3-openload failed ($name)"
}
j() { jq -r "$1" "$2"; }

# Warm-up: connections, allocators, the stub's and the gateway's pools.
"${run_other[@]}" "$bin_dir/l0l3-openload" --target "http://127.0.0.1:$stub_port/v1/chat/completions" --rate 200 --duration 1 \
  --connections "$connections" --tag warm-direct >/dev/null
"${run_other[@]}" "$bin_dir/l0l3-openload" --target "http://127.0.0.1:$gateway_port/v1/chat/completions" --rate 200 --duration 1 \
  --connections "$connections" --tag warm-gateway --header 'x-l0l3-namespace: overhead' >/dev/null

failures=0
rows=()
notes=()
for rate in $rates; do
  load "direct-$rate" "$stub_port" "$rate" "d$rate-$$"
  misses0=$(metric "$gateway_port" l0l3_requests_total 'tier="L3".*outcome="miss"')
  props0=$(metric "$gateway_port" l0l3_proposals_total '')
  pfail0=$(metric "$gateway_port" l0l3_proposals_failed_total '')
  osum0=$(metric "$gateway_port" l0l3_gateway_overhead_seconds_sum '')
  ocount0=$(metric "$gateway_port" l0l3_gateway_overhead_seconds_count '')
  gw0=$(cpu_ticks "$gateway_pid"); rd0=$(cpu_ticks "$redis_pid")
  load "gateway-$rate" "$gateway_port" "$rate" "g$rate-$$" --header 'x-l0l3-namespace: overhead'
  gw1=$(cpu_ticks "$gateway_pid"); rd1=$(cpu_ticks "$redis_pid")
  # Proposals are written after the answer: let the last ones land before reading the counters.
  for _ in $(seq 1 50); do
    p=$(metric "$gateway_port" l0l3_proposals_total ''); f=$(metric "$gateway_port" l0l3_proposals_failed_total '')
    m=$(metric "$gateway_port" l0l3_requests_total 'tier="L3".*outcome="miss"')
    awk -v p="$p" -v f="$f" -v m="$m" -v p0="$props0" -v f0="$pfail0" -v m0="$misses0" \
      'BEGIN {exit !((p - p0) + (f - f0) >= (m - m0))}' && break
    sleep 0.1
  done
  rd1=$(cpu_ticks "$redis_pid")
  misses1=$(metric "$gateway_port" l0l3_requests_total 'tier="L3".*outcome="miss"')
  props1=$(metric "$gateway_port" l0l3_proposals_total '')
  pfail1=$(metric "$gateway_port" l0l3_proposals_failed_total '')
  osum1=$(metric "$gateway_port" l0l3_gateway_overhead_seconds_sum '')
  ocount1=$(metric "$gateway_port" l0l3_gateway_overhead_seconds_count '')

  curl -sS --max-time 5 "http://127.0.0.1:$gateway_port/metrics" >"$out/raw/gateway-$rate.metrics" || true
  d=$out/raw/direct-$rate.json g=$out/raw/gateway-$rate.json
  for f in "$d" "$g"; do
    if [[ $(j .errors "$f") != 0 ]]; then
      notes+=("$(basename "$f" .json): $(jq -c '{non_2xx, send_failed, closed_in_flight, bad_response, unanswered, connect_failed}' "$f")")
    fi
  done
  row=$(awk -v rate="$rate" -v conns="$connections" -v tck="$ticks" \
    -v dr="$(j .achieved_rate "$d")" -v gr="$(j .achieved_rate "$g")" \
    -v d50="$(j .latency_ms.p50 "$d")" -v d99="$(j .latency_ms.p99 "$d")" \
    -v g50="$(j .latency_ms.p50 "$g")" -v g99="$(j .latency_ms.p99 "$g")" \
    -v dmax="$(j .latency_ms.max "$d")" -v gmax="$(j .latency_ms.max "$g")" \
    -v de="$(j .errors "$d")" -v ge="$(j .errors "$g")" \
    -v dq="$(j .max_backlog "$d")" -v gq="$(j .max_backlog "$g")" \
    -v gok="$(j .ok "$g")" -v gmiss="$(j .x_l0l3_cache.miss "$g")" \
    -v misses="$(awk -v a="$misses1" -v b="$misses0" 'BEGIN {print a - b}')" \
    -v props="$(awk -v a="$props1" -v b="$props0" 'BEGIN {print a - b}')" \
    -v pfail="$(awk -v a="$pfail1" -v b="$pfail0" 'BEGIN {print a - b}')" \
    -v osum="$(awk -v a="$osum1" -v b="$osum0" 'BEGIN {print a - b}')" \
    -v ocount="$(awk -v a="$ocount1" -v b="$ocount0" 'BEGIN {print a - b}')" \
    -v gcpu="$((gw1 - gw0))" -v rcpu="$((rd1 - rd0))" 'BEGIN {
      sat = (dr < 0.95 * rate || gr < 0.95 * rate || de > 0 || ge > 0 || dq > conns || gq > conns) ? "**yes**" : "no"
      m = misses > 0 ? misses : 1
      printf "| %d | %.0f / %.0f | %.3f / %.3f | %.3f / %.3f | %+.3f | %+.3f | %.1f / %.1f | %.0f | %.0f | %.1f | %d / %d | %d / %d | %s |\n",
        rate, dr, gr, d50, g50, d99, g99, g50 - d50, g99 - d99, dmax, gmax,
        gcpu * 1e6 / tck / m, rcpu * 1e6 / tck / m, (ocount > 0 ? osum * 1e6 / ocount : 0),
        de, ge, props, pfail, sat
    }')
  rows+=("$row")
  # Every gateway answer must have been a miss, and counted once as one.
  if [[ $(j .ok "$g") != "$(j .x_l0l3_cache.miss "$g")" ]]; then
    echo "run.sh: at $rate/s the gateway answered $(j .ok "$g") requests, $(j .x_l0l3_cache.miss "$g") of them misses" >&2
    failures=$((failures + 1))
  fi
  if ((smoke)) && [[ $(j .errors "$d") != 0 || $(j .errors "$g") != 0 ]]; then
    echo "run.sh: errors at $rate/s: direct $(j .errors "$d"), gateway $(j .errors "$g")" >&2
    failures=$((failures + 1))
  fi
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

{
  echo "### Overhead of a miss (open loop, stub at $stub_latency ms, $duration s per run)"
  echo
  sed 's/^/    /' "$out/machine.txt"
  echo
  echo "| rate/s | achieved/s direct / gw | p50 ms direct / gw | p99 ms direct / gw | added p50 ms | added p99 ms | max ms direct / gw | gw CPU µs/miss | Redis CPU µs/miss | l0l3_gateway_overhead_seconds mean µs | errors direct / gw | proposals ok / failed | saturated |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  if ((${#notes[@]})); then
    echo
    echo "Errors (l0l3-openload's breakdown; the gateway's /metrics after each run are in raw/):"
    printf -- '- %s\n' "${notes[@]}"
  fi
} | tee "$out/report.md"
echo
echo "raw: $out (raw/*.json from l0l3-openload, machine.txt, report.md)"
n_rates=$(wc -w <<<"$rates")
[[ $(grep -c '^| [0-9]* | [0-9]* / [0-9]* |' "$out/report.md") == "$n_rates" ]] \
  || { echo "run.sh: the table does not have one row per rate" >&2; failures=$((failures + 1)); }
((failures == 0)) || { echo "run.sh: $failures check(s) failed" >&2; exit 1; }
