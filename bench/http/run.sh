#!/usr/bin/env bash
# bench/http/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [--duration S] [--repeats N]
#                   [--connections "32 64"] [--threads N] [--cases "nginx l0.5-hit l0-hit miss l0-hit-tls"]
#
# HTTP benchmark of l0l3-gateway against a reference nginx, in one invocation.
# Starts, on loopback only: redis-server (no persistence, seeded
# with approved entries for bench/http/requests.jsonl), l0l3-stub-llm
# (--latency-ms 0), nginx (1 worker, access log off, `return 200` with a body
# of the same size and the same headers as the gateway's hit reply) and
# l0l3-gateway. Measures with wrk -t1 keep-alive POSTs:
#   nginx        the reference
#   L0.5 hit     gateway, hot cache on
#   L0 hit       gateway --no-hot-cache (one Redis GET per request)
#   L0 hit, TLS  (l0-hit-tls, not in the default cases) the same, but its Redis
#                link is rediss:// to the same redis-server's tls-port: the
#                cost of TLS on the hit path, measured in the same rounds
#   miss         gateway, every request a new key, through the stub LLM
# at each connection count, `repeats` times (the hit cases in rounds: nginx,
# L0.5, L0, nginx, ...; misses last), and prints a markdown table of medians
# (req/s, p50, p99, CPU per request of the server and of Redis) with each
# case's ratio to nginx's run of the same round. Raw wrk output goes to --out.
# --smoke: each case once for 1 s at 32 connections; asserts that everything
# ran and parsed and that the gateway answered 2xx, nothing about speed.
# --cases: measure only these cases (for iterating on one of them; ratios
# need nginx in the same invocation).
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
cases="nginx l0.5-hit l0-hit miss"

usage() { sed -n '2,3p' "$0" | sed 's/^# //'; }
wants() { [[ " $cases " == *" $1 "* ]]; }
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --bin-dir) bin_dir=$2; shift ;;
    --out) out=$2; shift ;;
    --duration) duration=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; shift ;;
    --cases) cases=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for c in $cases; do
  case $c in
    nginx|l0.5-hit|l0-hit|l0-hit-tls|miss) ;;
    *) echo "run.sh: unknown case $c" >&2; usage >&2; exit 2 ;;
  esac
done
if ((smoke)); then
  duration=1; repeats=1; connections="32"; warmup=0
fi

for tool in wrk nginx redis-server redis-cli curl openssl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
for b in l0l3-gateway l0l3-stub-llm l0l3_bench_seed; do
  [[ -x $bin_dir/$b ]] || { echo "run.sh: $bin_dir/$b not built" >&2; exit 1; }
done

[[ -n $out ]] || out=$repo/build/bench-results/http-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/raw"
out=$(cd "$out" && pwd)
# shellcheck source=bench/http/stack.sh disable=SC2154  # its variables are set by its functions
source "$here/stack.sh"

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
printf 'case\tconnections\trepeat\trps\tp50_us\tp99_us\trequests\tnon2xx\tsocket_errors\texpected_tier_share\tserver_cpu_us_per_req\tredis_cpu_us_per_req\n' >"$results"

# CPU time (user + system, clock ticks) used so far by the given processes (all their threads).
clk_tck=$(getconf CLK_TCK)
cpu_ticks() {
  local total=0 p v
  for p in "$@"; do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || true
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
per_request() { # clock ticks, requests -> microseconds per request
  awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { printf "%.2f", n ? t * 1e6 / hz / n : 0 }'
}

# One wrk run of a case at one connection count; appends a line to results.tsv.
# $server_pids: the processes whose CPU time per request is reported (the
# gateway, or nginx's master and worker). That figure does not depend on how
# the two cores were shared with wrk and everyone else, unlike req/s.
measure_one() { # case, port, script, tier-to-check ("" for nginx), outcome, connections, repeat
  local name=$1 port=$2 script=$3 tier=$4 outcome=$5 c=$6 r=$7 raw before after total share cpu0 cpu1 cpu rcpu0 rcpu1 rcpu
  raw=$out/raw/$name-c$c-r$r.txt
  [[ -n $tier ]] && before=$(requests_metric "$port" "$tier" "$outcome")
  # shellcheck disable=SC2086
  cpu0=$(cpu_ticks $server_pids)
  rcpu0=$(cpu_ticks "$redis_pid")
  L0L3_BENCH_RUN="$name-$c-$r-$$-$RANDOM" wrk -t1 -c"$c" -d"${duration}s" --timeout 5s --latency \
    -s "$here/$script" "http://127.0.0.1:$port/v1/chat/completions" >"$raw" 2>&1 \
    || { cat "$raw" >&2; die "wrk failed for $name"; }
  grep -q '^L0L3_RESULT' "$raw" || { cat "$raw" >&2; die "no result line from wrk for $name"; }
  # shellcheck disable=SC2086
  cpu1=$(cpu_ticks $server_pids)
  rcpu1=$(cpu_ticks "$redis_pid")
  total=$(field "$raw" requests)
  cpu=$(per_request $((cpu1 - cpu0)) "$total")
  rcpu=$(per_request $((rcpu1 - rcpu0)) "$total")
  share=-
  if [[ -n $tier ]]; then
    after=$(requests_metric "$port" "$tier" "$outcome")
    # Requests still in flight when wrk stops are counted by the gateway, not by wrk.
    share=$(awk -v d=$((after - before)) -v n="$total" 'BEGIN { printf "%.3f", n ? d / n : 0 }')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$c" "$r" "$(field "$raw" rps)" \
    "$(field "$raw" p50_us)" "$(field "$raw" p99_us)" "$total" "$(field "$raw" non2xx)" \
    "$(($(field "$raw" errors_connect) + $(field "$raw" errors_read) + $(field "$raw" errors_write) + $(field "$raw" errors_timeout)))" \
    "$share" "$cpu" "$rcpu" >>"$results"
  echo "  $name c=$c #$r: $(grep '^L0L3_RESULT' "$raw" | cut -d' ' -f2-8) server_cpu_us_per_req=$cpu redis_cpu_us_per_req=$rcpu" >&2
}

warm_up() { # case, port, script
  ((warmup > 0)) || return 0
  L0L3_BENCH_RUN="$1-warmup-$$" wrk -t1 -c32 -d"${warmup}s" -s "$here/$3" \
    "http://127.0.0.1:$2/v1/chat/completions" >"$out/raw/$1-warmup.txt" 2>&1 || true
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wrk: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2); $(nginx -v 2>&1); $(redis-server --version | cut -d' ' -f1-3)"
  echo "settings: duration=${duration}s repeats=$repeats connections=[$connections] cases=[$cases] wrk -t1, gateway --threads $threads, nginx worker_processes 1"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

wants l0-hit-tls && redis_tls=1
start_redis
seed_entries "$out/keys.txt"
echo "redis on 127.0.0.1:$redis_port, $seeded approved entries seeded" >&2

start_stub

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

# The hit cases run in rounds: at each connection count, nginx, then L0.5,
# then L0, once each per round, `repeats` rounds. Each case is thus measured
# seconds after its reference, and the ratio to nginx is taken per round (the
# VM's speed drifts over minutes; measuring nginx first and the gateway
# minutes later compared different machines).
nginx_pids="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
hot_pid=$gateway_pid hot_port=$gateway_port
if wants l0-hit; then
  start_gateway nohot --no-hot-cache
  probe "$gateway_port" hit L0
  probe "$gateway_port" hit L0
  nohot_pid=$gateway_pid nohot_port=$gateway_port
fi
if wants l0-hit-tls; then
  gateway_redis_url="rediss://127.0.0.1:$redis_tls_port" start_gateway tls --no-hot-cache \
    --redis-ca-file "$tmp/tls/ca.pem"
  probe "$gateway_port" hit L0
  probe "$gateway_port" hit L0
  tls_pid=$gateway_pid tls_port=$gateway_port
fi
hit_target() { # case -> $port, $server_pids, $tier of the server measured for it
  case $1 in
    nginx) port=$nginx_port server_pids=$nginx_pids tier="" ;;
    l0.5-hit) port=$hot_port server_pids=$hot_pid tier=L0.5 ;;
    l0-hit) port=$nohot_port server_pids=$nohot_pid tier=L0 ;;
    l0-hit-tls) port=$tls_port server_pids=$tls_pid tier=L0 ;;
  esac
}
hit_cases=""
for name in nginx l0.5-hit l0-hit l0-hit-tls; do wants "$name" && hit_cases+=" $name"; done
if [[ -n $hit_cases ]]; then
  echo "measuring in rounds:$hit_cases (nginx :$nginx_port, L0.5 :$hot_port, L0 :${nohot_port:--}, L0 TLS :${tls_port:--})" >&2
  for name in $hit_cases; do hit_target "$name"; warm_up "$name" "$port" hit.lua; done
  for c in $connections; do
    for r in $(seq 1 "$repeats"); do
      for name in $hit_cases; do
        hit_target "$name"
        measure_one "$name" "$port" hit.lua "$tier" "${tier:+hit}" "$c" "$r"
      done
    done
  done
fi
stop "$nginx_pid"
stop "$hot_pid"
[[ -n ${nohot_pid:-} ]] && stop "$nohot_pid"
[[ -n ${tls_pid:-} ]] && stop "$tls_pid"

# Last: every miss leaves a proposal (and a seen counter) in Redis, which the
# hit cases should not have to share memory with.
if wants miss; then
  start_gateway miss
  echo "measuring misses through the stub LLM on :$gateway_port" >&2
  server_pids=$gateway_pid
  warm_up miss "$gateway_port" miss.lua
  for c in $connections; do
    for r in $(seq 1 "$repeats"); do measure_one miss "$gateway_port" miss.lua L3 miss "$c" "$r"; done
  done
  stop "$gateway_pid"
fi

proposals=$(redis-cli -p "$redis_port" xlen l0l3:v1:proposals 2>/dev/null || echo "?")
inbox=$(redis-cli -p "$redis_port" llen l0l3:v1:proposal-inbox 2>/dev/null || echo "?")
echo "proposals after the miss runs: stream $proposals, inbox (no console drains it here) $inbox" >>"$out/machine.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# Medians per case and connection count, and the ratio to nginx's median req/s.
table=$out/summary.md
{
  echo "| case | connections | req/s (median) | p50 ms | p99 ms | × nginx req/s (median of rounds) | server CPU µs/req | Redis CPU µs/req | served by expected tier | runs |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for name in $cases; do
    for c in $connections; do
      col() { awk -F'\t' -v n="$name" -v c="$c" -v k="$1" 'NR > 1 && $1 == n && $2 == c { print $k }' "$results" | median; }
      rps=$(col 4); p50=$(col 5); p99=$(col 6); share=$(col 10); cpu=$(col 11); rcpu=$(col 12)
      # Hit cases: the median over the rounds of (this run's req/s / nginx's in the same round). The
      # miss runs come after the hit cases, in no round: against nginx's median.
      if [[ $name != miss ]]; then
        ratio=$(awk -F'\t' -v n="$name" -v c="$c" '
                  NR > 1 && $1 == "nginx" && $2 == c { ng[$3] = $4 }
                  NR > 1 && $1 == n && $2 == c { mine[$3] = $4 }
                  END { for (r in mine) if (r in ng && ng[r] > 0) print mine[r] / ng[r] }' "$results" | median)
      else
        ratio=$(awk -F'\t' -v c="$c" 'NR > 1 && $1 == "nginx" && $2 == c { print $4 }' "$results" | median |
                  awk -v rps="$rps" '{ if ($1 > 0) print rps / $1 }')
      fi
      runs=$(awk -F'\t' -v n="$name" -v c="$c" 'NR > 1 && $1 == n && $2 == c' "$results" | wc -l)
      awk -v n="$name" -v c="$c" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v ratio="$ratio" -v share="$share" -v runs="$runs" -v cpu="$cpu" -v rcpu="$rcpu" \
        'BEGIN { printf "| %s | %d | %.0f | %.3f | %.3f | %.2f | %.1f | %.1f | %s | %d |\n", n, c, rps, p50 / 1000, p99 / 1000,
                 ratio, cpu, rcpu, (share == "-" ? "n/a" : sprintf("%.1f%%", share * 100)), runs }'
    done
  done
  # The TLS cost on the hit path: per round, l0-hit-tls against the l0-hit run next to it; medians.
  if wants l0-hit && wants l0-hit-tls; then
    echo
    for c in $connections; do
      pairs=$(awk -F'\t' -v c="$c" '
        NR > 1 && $2 == c && $1 == "l0-hit" { rps[$3] = $4; cpu[$3] = $11; rcpu[$3] = $12 }
        NR > 1 && $2 == c && $1 == "l0-hit-tls" { trps[$3] = $4; tcpu[$3] = $11; trcpu[$3] = $12 }
        END { for (r in rps) if (r in trps && rps[r] > 0) print trps[r] / rps[r], tcpu[r] - cpu[r], trcpu[r] - rcpu[r] }' "$results")
      [[ -n $pairs ]] || continue
      printf 'TLS cost at %s connections (l0-hit-tls vs l0-hit of the same round, median of rounds): req/s x%.2f, server CPU %+.1f us/req, Redis CPU %+.1f us/req\n' \
        "$c" "$(cut -d' ' -f1 <<<"$pairs" | median)" "$(cut -d' ' -f2 <<<"$pairs" | median)" "$(cut -d' ' -f3 <<<"$pairs" | median)"
    done
  fi
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
