#!/usr/bin/env bash
# Checks packaging/systemd/l0l3-gateway.service against a built gateway:
#  1. systemd-analyze verify (when available) on a copy whose ExecStart names
#     the built binary, and on l0l3-backup.service and l0l3-backup.timer
#     (ExecStart naming packaging/backup/l0l3-backup; what the script does is
#     checked by packaging/backup/check-backup.sh);
#  2. the unit's ExecStart, with its Environment= lines, run as systemd would
#     (%H, ${CREDENTIALS_DIRECTORY} filled in) against a loopback redis-server
#     standing in for every Redis address of the unit, the listen port made
#     free (0). The gateway must start listening, answer /healthz and stop
#     cleanly on SIGTERM. The upstream stays as shipped (HTTPS): nothing is
#     sent to it.
# Usage: packaging/systemd/check-unit.sh [path/to/l0l3-gateway]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
unit="${L0L3_UNIT:-$here/l0l3-gateway.service}" # L0L3_UNIT: check another copy
bin=$(realpath "${1:-$here/../../build/default/bin/l0l3-gateway}")
[[ -x "$bin" ]] || { echo "check-unit: no gateway binary at $bin" >&2; exit 2; }

work=$(mktemp -d)
redis_pid=""
gateway_pid=""
cleanup() {
    [[ -n "$gateway_pid" ]] && kill "$gateway_pid" 2>/dev/null || true
    [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if command -v systemd-analyze >/dev/null; then
    sed "s|^ExecStart=/usr/bin/l0l3-gateway|ExecStart=$bin|" "$unit" >"$work/l0l3-gateway.service"
    if ! systemd-analyze verify --man=no "$work/l0l3-gateway.service" 2>"$work/verify.log"; then
        cat "$work/verify.log" >&2
        echo "check-unit: systemd-analyze verify failed" >&2
        exit 1
    fi
    # Warnings about the host (no network-online target in a container...) are printed, not fatal.
    [[ -s "$work/verify.log" ]] && sed 's/^/check-unit: systemd-analyze: /' "$work/verify.log" >&2
    echo "check-unit: systemd-analyze verify passed"
    if [[ -z "${L0L3_UNIT:-}" ]]; then
        sed "s|^ExecStart=/usr/bin/l0l3-backup|ExecStart=$(realpath "$here/../backup/l0l3-backup")|" \
            "$here/l0l3-backup.service" >"$work/l0l3-backup.service"
        cp "$here/l0l3-backup.timer" "$work/l0l3-backup.timer"
        if ! systemd-analyze verify --man=no "$work/l0l3-backup.service" "$work/l0l3-backup.timer" \
            2>"$work/verify-backup.log"; then
            cat "$work/verify-backup.log" >&2
            echo "check-unit: systemd-analyze verify failed for the backup units" >&2
            exit 1
        fi
        [[ -s "$work/verify-backup.log" ]] && sed 's/^/check-unit: systemd-analyze: /' "$work/verify-backup.log" >&2
        # The backup unit is a oneshot holding a Redis credential: hardened, never root.
        for line in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
            CapabilityBoundingSet= SystemCallFilter=@system-service UMask=0077 Type=oneshot; do
            grep -qx "$line" "$here/l0l3-backup.service" \
                || { echo "check-unit: l0l3-backup.service lacks $line" >&2; exit 1; }
        done
        grep -qx 'Unit=l0l3-backup.service' "$here/l0l3-backup.timer" \
            || { echo "check-unit: l0l3-backup.timer does not start l0l3-backup.service" >&2; exit 1; }
        echo "check-unit: systemd-analyze verify passed for l0l3-backup.service and l0l3-backup.timer"
    fi
elif [[ ${L0L3_REQUIRE_SYSTEMD_ANALYZE:-0} == 1 ]]; then
    echo "check-unit: systemd-analyze is not installed (scripts/install-deps.sh installs systemd)" >&2
    exit 1
else
    echo "check-unit: systemd-analyze not installed, skipping verify"
fi

# Credentials, as LoadCredential= would provide them.
creds="$work/credentials"
mkdir -m 700 "$creds"
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$password" >"$creds/redis-password"
printf '%s\n' "unused-sentinel-password" >"$creds/sentinel-password"
printf '%s\n' "sk-check-unit" >"$creds/upstream-api-key"
printf '%s default\n' "$(printf 'client-key' | sha256sum | cut -d' ' -f1)" >"$creds/api-keys"
chmod 600 "$creds"/*

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'user default on nopass ~* &* +@all\nuser gateway on >%s ~* &* +@all\n' "$password" >"$work/users.acl"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --aclfile "$work/users.acl" \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
done
redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "check-unit: redis-server did not start" >&2; cat "$work/redis.log" >&2; exit 1; }

# The unit's command line and environment, with its Redis addresses pointed at the loopback server.
python3 - "$unit" "$creds" "$port" "$(hostname)" >"$work/command" <<'EOF'
import shlex, sys
unit, creds, port, host = sys.argv[1:5]
lines, joined = open(unit).read().splitlines(), []
for line in lines:
    if joined and joined[-1].endswith('\\'):
        joined[-1] = joined[-1][:-1] + ' ' + line.strip()
    else:
        joined.append(line)
def fill(text):
    text = text.replace('%H', host).replace('${CREDENTIALS_DIRECTORY}', creds)
    for address in ('127.0.0.1:6380', 'primary.internal:6379'):
        text = text.replace(address, '127.0.0.1:' + port)
    return text.replace('0.0.0.0:8080', '0.0.0.0:0')
env = [fill(l.split('=', 1)[1]) for l in joined if l.startswith('Environment=')]
exec_start = [fill(l.split('=', 1)[1]) for l in joined if l.startswith('ExecStart=')]
assert len(exec_start) == 1, 'one ExecStart expected'
print(' '.join(shlex.quote(e) for e in env) + ' ' + exec_start[0])
EOF
echo "check-unit: running $(cat "$work/command")"

# The binary under test in place of /usr/bin.
command=$(sed "s|/usr/bin/l0l3-gateway|$bin|" "$work/command")
eval "exec env $command" >"$work/gateway.out" 2>"$work/gateway.err" &
gateway_pid=$!
listen_port=""
for _ in $(seq 150); do
    listen_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/gateway.out" | head -1)
    [[ -n "$listen_port" ]] && break
    kill -0 "$gateway_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$listen_port" ]]; then
    echo "check-unit: the gateway did not start with the unit's command line:" >&2
    cat "$work/gateway.out" "$work/gateway.err" >&2
    exit 1
fi
echo "check-unit: gateway listening on port $listen_port"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$listen_port/healthz" || true)
echo "check-unit: /healthz answered $status"
[[ "$status" =~ ^(200|503)$ ]] || { cat "$work/gateway.err" >&2; exit 1; }
kill -TERM "$gateway_pid"
rc=0
wait "$gateway_pid" || rc=$?
gateway_pid=""
if [[ $rc -ne 0 ]]; then
    echo "check-unit: the gateway exited with $rc after SIGTERM" >&2
    cat "$work/gateway.err" >&2
    exit 1
fi
grep -q 'upstream=https://api.openai.com/v1' "$work/gateway.err" \
    || { echo "check-unit: the gateway did not log its HTTPS upstream" >&2; cat "$work/gateway.err" >&2; exit 1; }
echo "check-unit: OK"
