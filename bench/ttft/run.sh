#!/usr/bin/env bash
# bench/ttft/run.sh [--bin-dir DIR] [--out DIR] [-n N] [--ttft-ms MS] [--latency-ms MS] [--threads N]
#
# Time to first token of a streamed miss: the gateway against the upstream alone.
# Starts on loopback redis-server (the l0l3 Redis function loaded),
# l0l3-stub-llm (--ttft-ms MS, default 20; the rest of each stream spread over
# --latency-ms MS, default 200) and l0l3-gateway, then ttft.py sends N (default
# 50) stream: true requests to each, alternating, each prompt distinct (every
# gateway request is a streamed miss), and reports the median and p99 time from
# the request written to the first content event read, and their difference.
# Every process it starts is stopped on exit. Needs python3, redis-server.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=${L0L3_BIN_DIR:-$repo/build/default/bin}
out=""
n=50
ttft_ms=20
latency_ms=200
threads=$(nproc); ((threads <= 4)) || threads=4

usage() { sed -n '2,3p' "$0" | sed 's/^# //'; }
while (($#)); do
  case $1 in
    --bin-dir) bin_dir=$2; shift ;;
    --out) out=$2; shift ;;
    -n) n=$2; shift ;;
    --ttft-ms) ttft_ms=$2; shift ;;
    --latency-ms) latency_ms=$2; shift ;;
    --threads) threads=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for tool in python3 redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
for b in l0l3-gateway l0l3-stub-llm; do
  [[ -x $bin_dir/$b ]] || { echo "run.sh: $bin_dir/$b not built" >&2; exit 1; }
done
[[ -n $out ]] || out=$repo/build/bench-results/ttft-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Process handling (start, port discovery, clean-exit checks) is the HTTP benchmark's.
# shellcheck source=bench/http/stack.sh disable=SC2154
source "$repo/bench/http/stack.sh"

start_redis
awk '/kLibrary = R"lua\(/{on=1; sub(/.*R"lua\(/, ""); print; next} /^\)lua";/{on=0} on' \
  "$repo/core/common/proposalfunction.h" >"$tmp/l0l3.lua"
head -1 "$tmp/l0l3.lua" | grep -q '^#!lua name=l0l3' || die "could not extract the Redis function library"
redis-cli -p "$redis_port" -x FUNCTION LOAD REPLACE <"$tmp/l0l3.lua" >/dev/null || die "FUNCTION LOAD failed"

"$bin_dir/l0l3-stub-llm" --listen 127.0.0.1:0 --ttft-ms "$ttft_ms" --latency-ms "$latency_ms" >"$tmp/stub.log" 2>&1 &
stub_pid=$!
pids+=("$stub_pid")
expect_clean_exit "$stub_pid" "l0l3-stub-llm (log $tmp/stub.log)"
stub_port=$(wait_listening "$tmp/stub.log" "$stub_pid") || die "l0l3-stub-llm did not start"
start_gateway ttft

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "stub: --ttft-ms $ttft_ms --latency-ms $latency_ms; gateway threads: $threads; requests: $n each"
} >"$out/machine.txt"
python3 "$here/ttft.py" --direct "$stub_port" --gateway "$gateway_port" -n "$n" --out "$out/samples.json" \
  | tee "$out/table.txt"
echo "results in $out"
