#!/usr/bin/env bash
# packaging/redis as an operator deploys it: scripts/render-acl.sh renders
# users.acl, sentinel.conf and the masterauth include; a primary, a replica and
# a Sentinel start from primary.conf, replica.conf and sentinel.conf as
# shipped, only the host-specific values substituted (HOST_ADDRESS: 127.0.0.2,
# PRIMARY_HOST: 127.0.0.1, free ports, local paths, quorum 1 for a single
# Sentinel). Checks:
#  - anonymous clients are refused by every node and the Sentinel;
#  - the replica replicates (masteruser/masterauth), persisting (AOF on);
#  - the Sentinel's own ACL user sees the primary and the replica;
#  - SENTINEL FAILOVER promotes the replica and the old primary rejoins it as a
#    replica with its link up (masteruser/masterauth on the primary too), and
#    the data written before is on the new primary.
# Usage: check-redis-configs.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
scale=${L0L3_TIME_SCALE:-1}
check_name=check-redis-configs
# shellcheck source=lib.sh
source "$here/lib.sh"
secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }

export L0L3_GATEWAY_PASSWORD=$(secret) L0L3_CONSOLE_PASSWORD=$(secret) L0L3_REPLICATION_PASSWORD=$(secret) \
    L0L3_SENTINEL_PASSWORD=$(secret) L0L3_TOPOLOGY_PASSWORD=$(secret) L0L3_SENTINEL_AUTH_PASSWORD=$(secret) \
    L0L3_HOST_ADDRESS=127.0.0.2 L0L3_PRIMARY_HOST=127.0.0.1
bash "$source_dir/scripts/render-acl.sh" "$work/users.acl" --sentinel "$work/sentinel.conf" \
    --masterauth "$work/masterauth.conf"
for f in users.acl sentinel.conf masterauth.conf; do
    [[ $(stat -c %a "$work/$f") == 600 ]] || fail "render-acl.sh wrote $f with mode $(stat -c %a "$work/$f")"
    grep -q '@[A-Z_]*@' "$work/$f" && fail "$f keeps a placeholder: $(grep '@[A-Z_]*@' "$work/$f")"
done

primary_port=$(free_port)
replica_port=$(free_port)
sentinel_port=$(free_port)
# node NAME TEMPLATE PORT: the shipped file with this host's values.
node() {
    mkdir -m 700 "$work/$1"
    sed -E -e "s/HOST_ADDRESS/$L0L3_HOST_ADDRESS/" -e "s/PRIMARY_HOST 6379/127.0.0.1 $primary_port/" \
        -e "s/^port .*/port $3/" -e "s#^dir .*#dir $work/$1#" \
        -e "s#/etc/redis/l0l3-users.acl#$work/users.acl#" -e "s#/etc/redis/l0l3-masterauth.conf#$work/masterauth.conf#" \
        "$source_dir/packaging/redis/$2" >"$work/$1.conf"
    # Test speed only: a full sync starts at once instead of waiting 5 s for more replicas.
    echo "repl-diskless-sync-delay 0" >>"$work/$1.conf"
    redis-server "$work/$1.conf" >"$work/$1.log" 2>&1 &
    pids+=($!)
    eval "${1}_pid=\$!"
}
node primary primary.conf "$primary_port"
node replica replica.conf "$replica_port"
sed -E -e "s/^port .*/port $sentinel_port/" -e "s/^(sentinel monitor l0l3 127.0.0.1) 6379 2/\1 $primary_port 1/" \
    "$work/sentinel.conf" >"$work/sentinel-run.conf"
grep -q "^sentinel monitor l0l3 127.0.0.1 $primary_port 1$" "$work/sentinel-run.conf" || fail "no monitor line to point at the primary"
redis-server "$work/sentinel-run.conf" --sentinel >"$work/sentinel.log" 2>&1 &
sentinel_pid=$!
pids+=($sentinel_pid)

as() { # USER PASSWORD PORT COMMAND...
    local user=$1 password=$2 port=$3
    shift 3
    REDISCLI_AUTH=$password redis-cli --user "$user" -h 127.0.0.1 -p "$port" "$@" 2>&1
}
topology() { as topology "$L0L3_TOPOLOGY_PASSWORD" "$@"; }
sentinel() { as l0l3-sentinel "$L0L3_SENTINEL_AUTH_PASSWORD" "$sentinel_port" sentinel "$@"; }
link_up() { topology "$1" info replication | grep '^master_link_status:up' >/dev/null; }
for port in "$primary_port" "$replica_port" "$sentinel_port"; do
    poll 100 sh -c "redis-cli -h 127.0.0.1 -p $port ping 2>&1 | grep -q NOAUTH" \
        || fail "port $port: no NOAUTH for an anonymous PING: $(redis-cli -h 127.0.0.1 -p "$port" ping 2>&1)"
done
echo "check-redis-configs: anonymous clients refused by the primary, the replica and the Sentinel"
[[ $(redis-cli -h 127.0.0.2 -p "$primary_port" --user topology --pass "$L0L3_TOPOLOGY_PASSWORD" --no-auth-warning ping) == PONG ]] \
    || fail "the primary does not answer on HOST_ADDRESS"

poll 150 link_up "$replica_port" || fail "the replica did not connect to the primary"
topology "$replica_port" info persistence | grep '^aof_enabled:1' >/dev/null || fail "the replica does not persist with AOF"
as console "$L0L3_CONSOLE_PASSWORD" "$primary_port" set l0l3:v1:heartbeat before-failover | grep -q OK \
    || fail "the console could not write to the primary"
# Replication is asynchronous: the write must have reached the replica before it is promoted.
replicated() { [[ $(as gateway "$L0L3_GATEWAY_PASSWORD" "$replica_port" get l0l3:v1:heartbeat) == before-failover ]]; }
poll 100 replicated || fail "the write did not reach the replica"
echo "check-redis-configs: the replica replicates as user replication"

sees_replica() { sentinel replicas l0l3 | grep -q "^$replica_port$"; }
poll 150 sees_replica || fail "the Sentinel does not see the replica: $(sentinel replicas l0l3)"
failover() { sentinel failover l0l3 | grep -q OK; }
poll 300 failover || fail "SENTINEL FAILOVER refused: $(sentinel failover l0l3)"
promoted() { sentinel get-master-addr-by-name l0l3 | grep -q "^$replica_port$"; }
poll 300 promoted || fail "the Sentinel did not promote the replica: $(sentinel get-master-addr-by-name l0l3)"
rejoined() { topology "$primary_port" role | head -1 | grep -q slave && link_up "$primary_port"; }
poll 300 rejoined || fail "the old primary did not rejoin as a replica: $(topology "$primary_port" info replication)"
[[ $(as gateway "$L0L3_GATEWAY_PASSWORD" "$replica_port" get l0l3:v1:heartbeat) == before-failover ]] \
    || fail "the promoted node lacks the data written before the failover"
echo "check-redis-configs: failover: the replica is primary, the old primary replicates from it; OK"
# Redis 7.0 refuses SIGTERM while a node writes its initial AOF (after the
# full sync that made it a replica: "Writing initial AOF, can't exit") and
# then ignores later ones; stop each data node only once that is done.
aof_idle() {
    local info
    info=$(topology "$1" info persistence | tr -d '\r')
    grep -q '^aof_rewrite_in_progress:0$' <<<"$info" && grep -q '^aof_rewrite_scheduled:0$' <<<"$info" \
        && grep -q '^loading:0$' <<<"$info"
}
poll 300 aof_idle "$primary_port" || fail "the old primary is still rewriting its AOF"
poll 300 aof_idle "$replica_port" || fail "the promoted replica is still rewriting its AOF"
stop_checked sentinel "$sentinel_pid"
stop_checked "the old primary" "$primary_pid"
stop_checked "the promoted replica" "$replica_pid"
pids=()
