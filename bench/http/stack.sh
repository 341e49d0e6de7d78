# shellcheck shell=bash disable=SC2034,SC2154
# (variables set here are used by the scripts that source this file, and theirs here)
# Sourced by run.sh and profile.sh: starts and stops the benchmark's
# processes (loopback only). Expects $here, $bin_dir, $threads; sets $tmp and
# stops everything it started on exit.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/l0l3-bench-http.XXXXXX")

pids=()
# Our own children (redis-server, l0l3-stub-llm, l0l3-gateway) must exit 0
# on SIGTERM within 5 s: a crash, a hang or a non-zero exit (LSan's 23) fails
# the run, and $tmp with their logs is kept.
declare -A clean_exit_names=() # pid -> "name (log)"
child_failures=0
expect_clean_exit() { clean_exit_names[$1]=$2; } # pid, description

# Waits for pid (after its SIGTERM) and judges its end.
reap() {
  local pid=$1 rc=0 hung=0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    hung=1
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  local what=${clean_exit_names[$pid]:-}
  [[ -n $what ]] || return 0
  if ((hung)); then
    echo "$(basename "$0"): FAIL: $what did not exit within 5 s of SIGTERM" >&2
  elif ((rc > 128)); then
    echo "$(basename "$0"): FAIL: $what was killed by signal $((rc - 128)) after SIGTERM" >&2
  elif ((rc != 0)); then
    echo "$(basename "$0"): FAIL: $what exited with code $rc after SIGTERM" >&2
  else
    return 0
  fi
  child_failures=$((child_failures + 1))
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do reap "$pid"; done
  if ((child_failures > 0)); then
    echo "$(basename "$0"): $child_failures child process(es) ended badly; logs kept in $tmp" >&2
    exit 1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# Stops one process we started and forgets it.
stop() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  reap "$pid"
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
  echo "$(basename "$0"): no 'listening on' line in $log:" >&2; cat "$log" >&2
  return 1
}

# With redis_tls=1: a CA and a certificate for 127.0.0.1 in $tmp/tls, and the
# same redis-server also listens with TLS on $redis_tls_port (same data).
make_tls_files() {
  mkdir -p "$tmp/tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$tmp/tls/ca.key" -out "$tmp/tls/ca.pem" -days 2 -subj "/CN=l0l3 bench CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1 &&
    openssl req -new "${ec[@]}" -keyout "$tmp/tls/redis.key" -out "$tmp/tls/redis.csr" -subj "/CN=redis" >/dev/null 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$tmp/tls/redis.ext" &&
    openssl x509 -req -in "$tmp/tls/redis.csr" -CA "$tmp/tls/ca.pem" -CAkey "$tmp/tls/ca.key" -CAcreateserial \
      -days 2 -extfile "$tmp/tls/redis.ext" -out "$tmp/tls/redis.pem" >/dev/null 2>&1 || die "openssl failed"
}

start_redis() {
  local port tls_args=()
  if ((${redis_tls:-0})); then
    make_tls_files
    redis_tls_port=$(free_port) || die "no free port"
    tls_args=(--tls-port "$redis_tls_port" --tls-cert-file "$tmp/tls/redis.pem" --tls-key-file "$tmp/tls/redis.key"
      --tls-ca-cert-file "$tmp/tls/ca.pem" --tls-auth-clients no)
  fi
  for _ in 1 2 3; do
    port=$(free_port) || die "no free port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
      --logfile "$tmp/redis.log" --daemonize no "${tls_args[@]}" &
    local pid=$!
    pids+=("$pid")
    expect_clean_exit "$pid" "redis-server (log $tmp/redis.log)"
    for _ in $(seq 1 50); do
      if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then redis_port=$port; redis_pid=$pid; return 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    unset "clean_exit_names[$pid]" # it failed to start (a port race): the retry decides
    stop "$pid"
  done
  cat "$tmp/redis.log" >&2
  die "redis-server did not start"
}

start_gateway() { # name, extra flags...; $gateway_redis_url: the Redis URL (default plain redis://)
  local name=$1; shift
  local log=$tmp/gateway-$name.log url=${gateway_redis_url:-redis://127.0.0.1:$redis_port}
  "$bin_dir/l0l3-gateway" --listen 127.0.0.1:0 --region bench \
    --replica "$url" --primary "$url" \
    --upstream "http://127.0.0.1:$stub_port/v1" --threads "$threads" "$@" >"$log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  expect_clean_exit "$gateway_pid" "l0l3-gateway $name (log $log)"
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

# Seeds an approved entry for every line of requests.jsonl (namespace "bench").
seed_entries() { # keys-out file
  "$bin_dir/l0l3_bench_seed" --ns bench --keys-out "$1" "$here/requests.jsonl" >"$tmp/seed.resp"
  redis-cli -p "$redis_port" --pipe <"$tmp/seed.resp" >"$tmp/seed.log" 2>&1 || { cat "$tmp/seed.log" >&2; die "seeding failed"; }
  seeded=$(redis-cli -p "$redis_port" --scan --pattern 'l0l3:v1:entry:*' | wc -l)
}

start_stub() {
  "$bin_dir/l0l3-stub-llm" --listen 127.0.0.1:0 --latency-ms 0 >"$tmp/stub.log" 2>&1 &
  stub_pid=$!
  pids+=("$stub_pid")
  expect_clean_exit "$stub_pid" "l0l3-stub-llm (log $tmp/stub.log)"
  stub_port=$(wait_listening "$tmp/stub.log" "$stub_pid") || die "l0l3-stub-llm did not start"
}

