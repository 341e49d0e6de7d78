#!/usr/bin/env bash
# Runs packaging/backup/l0l3-backup against a loopback redis-server with a
# built l0l3-ctl: three runs keeping two generations, each export verified and
# stored with its SHA-256, an RDB snapshot taken with redis-cli --rdb as a
# user holding exactly the `replication` user's commands (packaging/redis/users.acl);
# then a damaged generation must fail `sha256sum -c` and a backup against a
# stopped server must fail.
# Usage: packaging/backup/check-backup.sh path/to/l0l3-ctl
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ctl=$(realpath "${1:?usage: check-backup.sh path/to/l0l3-ctl}")
work=$(mktemp -d)
redis_pid=""
cleanup() {
    [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-backup: $*" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
console=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
replication=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$console" >"$work/console.password"
printf '%s\n' "$replication" >"$work/replication.password"
chmod 600 "$work"/*.password
replication_rules=$(sed -n 's/^user replication on #@REPLICATION_SHA256@ //p' "$here/../redis/users.acl")
[[ -n "$replication_rules" ]] || fail "no replication user in packaging/redis/users.acl"
{
    echo "user default off"
    echo "user console on >$console ~* &* +@all"
    echo "user replication on >$replication $replication_rules"
} >"$work/users.acl"
mkdir "$work/data"
redis-server --port "$port" --bind 127.0.0.1 --dir "$work/data" --save '' --appendonly no \
    --aclfile "$work/users.acl" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    REDISCLI_AUTH=$console redis-cli --no-auth-warning --user console -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

backup() {
    L0L3_CTL="$ctl" L0L3_PRIMARY_URL="redis://console@127.0.0.1:$port" \
        L0L3_REDIS_PASSWORD_FILE="$work/console.password" L0L3_BACKUP_DIR="$work/backups" L0L3_BACKUP_KEEP=2 \
        L0L3_BACKUP_RDB_SOURCE="redis://replication@127.0.0.1:$port" \
        L0L3_BACKUP_RDB_PASSWORD_FILE="$work/replication.password" \
        bash "$here/l0l3-backup"
}
for run in 1 2 3; do
    backup 2>"$work/run-$run.log" || { cat "$work/run-$run.log" >&2; fail "run $run failed"; }
    # Generations are named by the second.
    sleep 1.1
done
exports=$(ls "$work/backups"/l0l3-export-*.jsonl | wc -l)
snapshots=$(ls "$work/backups"/l0l3-rdb-*.rdb | wc -l)
[[ $exports == 2 && $snapshots == 2 ]] || fail "expected 2 generations of each, found $exports exports, $snapshots snapshots"
grep -q 'deleted the old generation' "$work/run-3.log" || fail "run 3 did not rotate"
(cd "$work/backups" && sha256sum -c --quiet ./*.sha256) || fail "a stored generation does not match its SHA-256"
latest=$(ls "$work/backups"/l0l3-export-*.jsonl | tail -1)
"$ctl" --primary "redis://console@127.0.0.1:$port" --password-file "$work/console.password" import "$latest" --dry-run \
    >/dev/null || fail "the latest generation does not read back"
printf 'x' >>"$latest"
(cd "$work/backups" && ! sha256sum -c --quiet ./*.sha256 >/dev/null 2>&1) || fail "a damaged generation passed sha256sum -c"

kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
redis_pid=""
if backup 2>"$work/run-down.log"; then
    fail "a backup against a stopped server succeeded"
fi
[[ $(ls "$work/backups"/.l0l3-export-* 2>/dev/null | wc -l) == 0 ]] || fail "a failed run left a partial file"
echo "check-backup: OK"
