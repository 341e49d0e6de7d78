#!/usr/bin/env bash
# bench/http/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [--duration S] [--repeats N]
#                   [--connections "32 64"] [--threads N]
#
# HTTP benchmark of l0l3-gateway against a reference nginx, in one invocation
# (issue 6). Starts, on loopback only: redis-server (no persistence, seeded
# with approved entries for bench/http/requests.jsonl), l0l3-stub-llm
# (--latency-ms 0), nginx (1 worker, access log off, `return 200` with a body
# of the same size and the same headers as the gateway's hit reply) and
# l0l3-gateway. Measures with wrk -t1 keep-alive POSTs:
#   nginx        the reference
#   L0.5 hit     gateway, hot cache on
#   L0 hit       gateway --no-hot-cache (one Redis GET per request)
#   miss         gateway, every request a new key, through the stub LLM
# at each connection count, `repeats` times, and prints a markdown table of
# medians (req/s, p50, p99, ratio to nginx). Raw wrk output goes to --out.
# --smoke: each case once for 1 s at 32 connections; asserts that everything
# ran and parsed and that the gateway answered 2xx, nothing about speed.
# Every process it starts is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

smoke=0
bin_dir=${L0L3_BIN_DIR:-$repo/build/default/bin}
out=""
duration=10
repeats=3
connections="32 64"
threads=1
warmup=2

usage() { sed -n '2,3p' "$0" | sed 's/^# //'; }
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --bin-dir) bin_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --duration) duration=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if ((smoke)); then
  duration=1; repeats=1; connections="32"; warmup=0
fi

for tool in wrk nginx redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
for b in l0l3-gateway l0l3-stub-llm l0l3_bench_seed; do
  [[ -x $bin_dir/$b ]] || { echo "run.sh: $bin_dir/$b not built" >&2; exit 1; }
done

[[ -n $out ]] || out=$repo/build/bench-results/http-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/raw"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/l0l3-bench-http.XXXXXX")

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "run.sh: $*" >&2; exit 1; }

# Stops one process we started and forgets it.
stop() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# A loopback port nobody listens on (bounded tries; a race is caught by the caller's retry).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# Waits (at most 10 s) for "<what> listening on 127.0.0.1:PORT" in a log and prints PORT.
wait_listening() {
  local log=$1 pid=$2 port
  for _ in $(seq 1 100); do
    port=$(grep -m1 -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | sed 's/.*://') || true
    [[ -n $port ]] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: no 'listening on' line in $log:" >&2; cat "$log" >&2
  return 1
}

start_redis() {
  local port
  for _ in 1 2 3; do
    port=$(free_port) || die "no free port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
      --logfile "$tmp/redis.log" --daemonize no &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 50); do
      if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then redis_port=$port; return 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    stop "$pid"
  done
  cat "$tmp/redis.log" >&2
  die "redis-server did not start"
}

start_gateway() { # name, extra flags...
  local name=$1; shift
  local log=$tmp/gateway-$name.log
  "$bin_dir/l0l3-gateway" --listen 127.0.0.1:0 --region bench \
    --replica "redis://127.0.0.1:$redis_port" --primary "redis://127.0.0.1:$redis_port" \
    --upstream "http://127.0.0.1:$stub_port/v1" --threads "$threads" "$@" >"$log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  gateway_port=$(wait_listening "$log" "$gateway_pid") || die "l0l3-gateway ($name) did not start"
}

# POSTs the first benchmark request and checks the cache header; leaves the body in $tmp/probe.body.
probe() { # port, expected x-l0l3-cache, expected x-l0l3-tier
  local port=$1 cache tier
  curl -sS --max-time 5 -D "$tmp/probe.headers" -o "$tmp/probe.body" \
    -H 'Content-Type: application/json' -H 'x-l0l3-namespace: bench' \
    --data-binary "$(head -n1 "$here/requests.jsonl")" "http://127.0.0.1:$port/v1/chat/completions" \
    || die "probe of port $port failed"
  cache=$(grep -i '^x-l0l3-cache:' "$tmp/probe.headers" | tr -d '\r' | awk '{print $2}')
  tier=$(grep -i '^x-l0l3-tier:' "$tmp/probe.headers" | tr -d '\r' | awk '{print $2}')
  [[ $cache == "$2" && $tier == "$3" ]] || {
    cat "$tmp/probe.headers" "$tmp/probe.body" >&2
    die "expected x-l0l3-cache: $2 and x-l0l3-tier: $3, got '$cache' '$tier'"
  }
}

# Sum of l0l3_requests_total samples matching a tier and outcome.
requests_metric() { # port, tier, outcome
  curl -sS --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk -v t="tier=\"$2\"" -v o="outcome=\"$3\"" \
      '/^l0l3_requests_total\{/ && index($0, t) && index($0, o) { s += $NF } END { printf "%d\n", s }'
}

field() { # file, name -> value from the L0L3_RESULT line
  awk -v k="$2" '/^L0L3_RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

export L0L3_BENCH_LUA_DIR=$here
export L0L3_BENCH_REQUESTS=$here/requests.jsonl
results=$out/results.tsv
printf 'case\tconnections\trepeat\trps\tp50_us\tp99_us\trequests\tnon2xx\tsocket_errors\texpected_tier_share\n' >"$results"

# Runs wrk `repeats` times per connection count for one case; the target must be up.
measure() { # case, port, script, tier-to-check ("" for nginx), outcome
  local name=$1 port=$2 script=$3 tier=$4 outcome=$5 c r raw before after total share
  if ((warmup > 0)); then
    L0L3_BENCH_RUN="$name-warmup-$$" wrk -t1 -c32 -d"${warmup}s" -s "$here/$script" \
      "http://127.0.0.1:$port/v1/chat/completions" >"$out/raw/$name-warmup.txt" 2>&1 || true
  fi
  for c in $connections; do
    for r in $(seq 1 "$repeats"); do
      raw=$out/raw/$name-c$c-r$r.txt
      [[ -n $tier ]] && before=$(requests_metric "$port" "$tier" "$outcome")
      L0L3_BENCH_RUN="$name-$c-$r-$$-$RANDOM" wrk -t1 -c"$c" -d"${duration}s" --timeout 5s --latency \
        -s "$here/$script" "http://127.0.0.1:$port/v1/chat/completions" >"$raw" 2>&1 \
        || { cat "$raw" >&2; die "wrk failed for $name"; }
      grep -q '^L0L3_RESULT' "$raw" || { cat "$raw" >&2; die "no result line from wrk for $name"; }
      total=$(field "$raw" requests)
      share=-
      if [[ -n $tier ]]; then
        after=$(requests_metric "$port" "$tier" "$outcome")
        # Requests still in flight when wrk stops are counted by the gateway, not by wrk.
        share=$(awk -v d=$((after - before)) -v n="$total" 'BEGIN { printf "%.3f", n ? d / n : 0 }')
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$c" "$r" "$(field "$raw" rps)" \
        "$(field "$raw" p50_us)" "$(field "$raw" p99_us)" "$total" "$(field "$raw" non2xx)" \
        "$(($(field "$raw" errors_connect) + $(field "$raw" errors_read) + $(field "$raw" errors_write) + $(field "$raw" errors_timeout)))" \
        "$share" >>"$results"
      echo "  $name c=$c #$r: $(grep '^L0L3_RESULT' "$raw" | cut -d' ' -f2-8)" >&2
    done
  done
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wrk: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2); $(nginx -v 2>&1); $(redis-server --version | cut -d' ' -f1-3)"
  echo "settings: duration=${duration}s repeats=$repeats connections=[$connections] wrk -t1, gateway --threads $threads, nginx worker_processes 1"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

start_redis
"$bin_dir/l0l3_bench_seed" --ns bench --keys-out "$out/keys.txt" "$here/requests.jsonl" >"$tmp/seed.resp"
redis-cli -p "$redis_port" --pipe <"$tmp/seed.resp" >"$tmp/seed.log" 2>&1 || { cat "$tmp/seed.log" >&2; die "seeding failed"; }
seeded=$(redis-cli -p "$redis_port" --scan --pattern 'l0l3:v1:entry:*' | wc -l)
echo "redis on 127.0.0.1:$redis_port, $seeded approved entries seeded" >&2

"$bin_dir/l0l3-stub-llm" --listen 127.0.0.1:0 --latency-ms 0 >"$tmp/stub.log" 2>&1 &
stub_pid=$!
pids+=("$stub_pid")
stub_port=$(wait_listening "$tmp/stub.log" "$stub_pid") || die "l0l3-stub-llm did not start"

# The reference needs the gateway's real hit reply: start the hot-cache gateway and ask it once.
start_gateway hot
probe "$gateway_port" hit L0
probe "$gateway_port" hit L0.5
body_size=$(wc -c <"$tmp/probe.body")
key=$(grep -i '^x-l0l3-key:' "$tmp/probe.headers" | tr -d '\r' | awk '{print $2}')

mkdir -p "$tmp/nginx"
# nginx would expand a '$' in the returned text as a variable.
! grep -q '\$' "$tmp/probe.body" || die "the gateway's reply contains '\$'; nginx cannot return it verbatim"
# nginx's quoted strings treat backslash as an escape: double it, and escape quotes.
nginx_body=$(sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" "$tmp/probe.body")
start_nginx() {
  for _ in 1 2 3; do
    nginx_port=$(free_port) || die "no free port"
    cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            default_type application/json;
            add_header x-l0l3-cache hit;
            add_header x-l0l3-tier L0.5;
            add_header x-l0l3-key $key;
            add_header x-l0l3-region bench;
            add_header Cache-Control no-cache;
            return 200 '$nginx_body';
        }
    }
}
EOF
    nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/stdout.log" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for _ in $(seq 1 50); do
      if curl -s --max-time 2 -o "$tmp/nginx.body" -X POST --data-binary '{}' "http://127.0.0.1:$nginx_port/v1/chat/completions"; then
        return 0
      fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    stop "$nginx_pid"
  done
  cat "$tmp/nginx/error.log" "$tmp/nginx/stdout.log" >&2 || true
  die "nginx did not start"
}
start_nginx
[[ $(wc -c <"$tmp/nginx.body") -eq $body_size ]] ||
  die "nginx body is $(wc -c <"$tmp/nginx.body") bytes, the gateway's $body_size"
echo "reply body: $body_size bytes (gateway and nginx)" | tee -a "$out/machine.txt" >&2
cp "$tmp/nginx/nginx.conf" "$out/nginx.conf"

echo "measuring nginx on :$nginx_port" >&2
measure nginx "$nginx_port" hit.lua "" ""
stop "$nginx_pid"

echo "measuring L0.5 hits on :$gateway_port" >&2
measure l0.5-hit "$gateway_port" hit.lua L0.5 hit
echo "measuring misses through the stub LLM on :$gateway_port" >&2
measure miss "$gateway_port" miss.lua L3 miss
stop "$gateway_pid"

start_gateway nohot --no-hot-cache
probe "$gateway_port" hit L0
probe "$gateway_port" hit L0
echo "measuring L0 hits (--no-hot-cache) on :$gateway_port" >&2
measure l0-hit "$gateway_port" hit.lua L0 hit
stop "$gateway_pid"

proposals=$(redis-cli -p "$redis_port" xlen l0l3:v1:proposals 2>/dev/null || echo "?")
echo "proposals stream length after the miss runs: $proposals" >>"$out/machine.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# Medians per case and connection count, and the ratio to nginx's median req/s.
table=$out/summary.md
{
  echo "| case | connections | req/s (median) | p50 ms | p99 ms | × nginx req/s | served by expected tier | runs |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for name in nginx l0.5-hit l0-hit miss; do
    for c in $connections; do
      col() { awk -F'\t' -v n="$name" -v c="$c" -v k="$1" 'NR > 1 && $1 == n && $2 == c { print $k }' "$results" | median; }
      rps=$(col 4); p50=$(col 5); p99=$(col 6); share=$(col 10)
      ref=$(awk -F'\t' -v c="$c" 'NR > 1 && $1 == "nginx" && $2 == c { print $4 }' "$results" | median)
      runs=$(awk -F'\t' -v n="$name" -v c="$c" 'NR > 1 && $1 == n && $2 == c' "$results" | wc -l)
      awk -v n="$name" -v c="$c" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v ref="$ref" -v share="$share" -v runs="$runs" \
        'BEGIN { printf "| %s | %d | %.0f | %.3f | %.3f | %.2f | %s | %d |\n", n, c, rps, p50 / 1000, p99 / 1000,
                 (ref > 0 ? rps / ref : 0), (share == "-" ? "n/a" : sprintf("%.1f%%", share * 100)), runs }'
    done
  done
} >"$table"

echo >&2
cat "$out/machine.txt"
echo
cat "$table"
echo
echo "raw wrk output: $out/raw"

# Sanity, not speed: every run produced requests, and the gateway answered 2xx.
bad=$(awk -F'\t' 'NR > 1 && ($7 <= 0 || $8 > 0) { print $1 " c=" $2 " #" $3 ": requests=" $7 " non2xx=" $8 }' "$results")
[[ -z $bad ]] || die "runs with no requests or non-2xx answers:
$bad"
