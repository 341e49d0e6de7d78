#!/usr/bin/env bash
# packaging/redis with TLS as an operator deploys it: primary-tls.conf and
# replica-tls.conf include the shipped primary.conf and replica.conf,
# sentinel-tls.conf is appended to the rendered sentinel.conf; certificates
# from a CA made here with the openssl CLI. Checks:
#  - every node listens with TLS only: a plain-text client gets no answer;
#  - a client that trusts another CA is refused; anonymous TLS clients get NOAUTH;
#  - the replica replicates over TLS (tls-replication, masteruser/masterauth);
#  - the Sentinel, over TLS, sees the primary and the replica.
# Usage: check-redis-tls-configs.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
scale=${L0L3_TIME_SCALE:-1}
check_name=check-redis-tls-configs
# shellcheck source=lib.sh
source "$here/lib.sh"
secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }

export L0L3_GATEWAY_PASSWORD=$(secret) L0L3_CONSOLE_PASSWORD=$(secret) L0L3_REPLICATION_PASSWORD=$(secret) \
    L0L3_SENTINEL_PASSWORD=$(secret) L0L3_TOPOLOGY_PASSWORD=$(secret) L0L3_SENTINEL_AUTH_PASSWORD=$(secret) \
    L0L3_HOST_ADDRESS=127.0.0.2 L0L3_PRIMARY_HOST=127.0.0.1
bash "$source_dir/scripts/render-acl.sh" "$work/users.acl" --sentinel "$work/sentinel.conf" \
    --masterauth "$work/masterauth.conf"

# ca NAME: a self-signed CA; leaf NAME CA: a server certificate for 127.0.0.1 and 127.0.0.2.
ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$work/$1.key" -out "$work/$1.crt" >"$work/openssl.out" 2>&1 || fail "openssl: $(cat "$work/openssl.out")"
}
ca ca
ca other-ca
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=redis" -keyout "$work/server.key" \
    -out "$work/server.csr" >"$work/openssl.out" 2>&1 || fail "openssl: $(cat "$work/openssl.out")"
printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext" -out "$work/server.crt" >"$work/openssl.out" 2>&1 || fail "openssl: $(cat "$work/openssl.out")"
chmod 600 "$work"/*.key

primary_port=$(free_port)
replica_port=$(free_port)
sentinel_port=$(free_port)
tls_paths() { sed -e "s#/etc/redis/tls/#$work/#"; }
# node NAME PLAIN TLS PORT: the shipped plain file with this host's values, included by the shipped TLS file.
node() {
    mkdir -m 700 "$work/$1"
    sed -E -e "s/HOST_ADDRESS/$L0L3_HOST_ADDRESS/" -e "s/PRIMARY_HOST 6379/127.0.0.1 $primary_port/" \
        -e "s#^dir .*#dir $work/$1#" \
        -e "s#/etc/redis/l0l3-users.acl#$work/users.acl#" -e "s#/etc/redis/l0l3-masterauth.conf#$work/masterauth.conf#" \
        "$source_dir/packaging/redis/$2" >"$work/$1-plain.conf"
    echo "repl-diskless-sync-delay 0" >>"$work/$1-plain.conf"
    sed -E -e "s#^include /etc/redis/l0l3-[a-z]+.conf#include $work/$1-plain.conf#" -e "s/^tls-port .*/tls-port $4/" \
        "$source_dir/packaging/redis/$3" | tls_paths >"$work/$1.conf"
    grep -q "^include $work/$1-plain.conf$" "$work/$1.conf" || fail "$3 does not include the plain config"
    redis-server "$work/$1.conf" >"$work/$1.log" 2>&1 &
    pids+=($!)
    eval "${1}_pid=\$!"
}
node primary primary.conf primary-tls.conf "$primary_port"
node replica replica.conf replica-tls.conf "$replica_port"
sed -E -e "s/^(sentinel monitor l0l3 127.0.0.1) 6379 2/\1 $primary_port 1/" "$work/sentinel.conf" >"$work/sentinel-run.conf"
sed -E -e "s/^tls-port .*/tls-port $sentinel_port/" "$source_dir/packaging/redis/sentinel-tls.conf" | tls_paths \
    >>"$work/sentinel-run.conf"
redis-server "$work/sentinel-run.conf" --sentinel >"$work/sentinel.log" 2>&1 &
sentinel_pid=$!
pids+=($sentinel_pid)

tls_cli() { # CA PORT ARGS...: redis-cli over TLS, trusting CA
    local ca=$1 port=$2
    shift 2
    timeout 10 redis-cli --tls --cacert "$work/$ca.crt" -h 127.0.0.1 -p "$port" "$@" 2>&1
}
as() { # USER PASSWORD PORT COMMAND...
    local user=$1 password=$2 port=$3
    shift 3
    REDISCLI_AUTH=$password tls_cli ca "$port" --user "$user" "$@"
}
topology() { as topology "$L0L3_TOPOLOGY_PASSWORD" "$@"; }
sentinel() { as l0l3-sentinel "$L0L3_SENTINEL_AUTH_PASSWORD" "$sentinel_port" sentinel "$@"; }
link_up() { topology "$1" info replication | grep '^master_link_status:up' >/dev/null; }
for port in "$primary_port" "$replica_port" "$sentinel_port"; do
    poll 100 sh -c "timeout 10 redis-cli --tls --cacert $work/ca.crt -h 127.0.0.1 -p $port ping 2>&1 | grep -q NOAUTH" \
        || fail "port $port: no NOAUTH for an anonymous TLS PING: $(tls_cli ca "$port" ping)"
    plain=$(timeout 10 redis-cli -h 127.0.0.1 -p "$port" ping 2>&1 || true)
    [[ $plain == *NOAUTH* || $plain == PONG ]] && fail "port $port answers plain text: $plain"
    untrusted=$(tls_cli other-ca "$port" ping || true)
    [[ $untrusted == *NOAUTH* || $untrusted == PONG ]] && fail "port $port: a client of another CA got an answer"
done
echo "check-redis-tls-configs: TLS only on every node; plain text and a foreign CA refused, anonymous clients NOAUTH"

poll 150 link_up "$replica_port" || fail "the replica did not connect to the primary over TLS"
as console "$L0L3_CONSOLE_PASSWORD" "$primary_port" set l0l3:v1:heartbeat over-tls | grep -q OK \
    || fail "the console could not write to the primary"
replicated() { [[ $(as gateway "$L0L3_GATEWAY_PASSWORD" "$replica_port" get l0l3:v1:heartbeat) == over-tls ]]; }
poll 100 replicated || fail "the write did not reach the replica"
echo "check-redis-tls-configs: the replica replicates over TLS as user replication"
sees_master() { sentinel get-master-addr-by-name l0l3 | grep -q "^$primary_port$"; }
poll 100 sees_master || fail "the Sentinel does not name the primary: $(sentinel get-master-addr-by-name l0l3)"
sees_replica() { sentinel replicas l0l3 | grep -q "^$replica_port$"; }
poll 150 sees_replica || fail "the Sentinel does not see the replica: $(sentinel replicas l0l3)"
echo "check-redis-tls-configs: the Sentinel monitors over TLS; OK"
aof_idle() {
    local info
    info=$(topology "$1" info persistence | tr -d '\r')
    grep -q '^aof_rewrite_in_progress:0$' <<<"$info" && grep -q '^aof_rewrite_scheduled:0$' <<<"$info" \
        && grep -q '^loading:0$' <<<"$info"
}
poll 300 aof_idle "$primary_port" || fail "the primary is still rewriting its AOF"
poll 300 aof_idle "$replica_port" || fail "the replica is still rewriting its AOF"
stop_checked sentinel "$sentinel_pid"
stop_checked "the primary" "$primary_pid"
stop_checked "the replica" "$replica_pid"
pids=()
