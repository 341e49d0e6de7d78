#!/usr/bin/env bash
# Checks the systemd units of packaging/systemd (or, with --installed, the ones
# the Debian packages installed) and runs the gateway's unit as systemd would:
#  1. systemd-analyze verify on every *.service and *.timer (a template as the
#     instance "check"), their /usr/bin/l0l3-* commands pointed at BIN_DIR;
#  2. l0l3-gateway@check.service's ExecStart, with the example configuration
#     (gateway-example.conf) as /etc/l0l3/gateway-check.conf, its credentials
#     as LoadCredential= and its EnvironmentFile= would give them, against a
#     loopback redis-server loaded with packaging's users.acl (rendered by
#     render-acl.sh) standing in for every Redis address and an l0l3-stub-llm
#     as the upstream. Sentinel lines are dropped (there is none). The gateway
#     must answer /healthz with 200, answer a chat completion and exit 0 on
#     SIGTERM. The example file as shipped must pass --check-config.
# Usage: check-unit.sh [--installed] BIN_DIR
#   BIN_DIR: where l0l3-gateway and l0l3-stub-llm were built. --installed:
#   units from /lib/systemd/system, the example from /etc/l0l3, the gateway
#   and render-acl.sh as the packages installed them (BIN_DIR: the stub only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
installed=0
if [[ ${1:-} == --installed ]]; then
    installed=1
    shift
fi
bin_dir=$(realpath "${1:-$here/../../build/default/bin}")
scale=${L0L3_TIME_SCALE:-1}
if ((installed)); then
    units=(/lib/systemd/system/l0l3-*.service /lib/systemd/system/l0l3-*.timer)
    example=/etc/l0l3/gateway-example.conf
    gateway=/usr/bin/l0l3-gateway
    render_acl=/usr/share/doc/l0l3/examples/render-acl.sh
else
    units=("$here"/*.service "$here"/*.timer)
    example=$here/gateway-example.conf
    gateway=$bin_dir/l0l3-gateway
    render_acl=$here/../../scripts/render-acl.sh
fi
stub=$bin_dir/l0l3-stub-llm
for f in "$gateway" "$stub"; do
    [[ -x $f ]] || { echo "check-unit: no executable $f" >&2; exit 2; }
done

check_name=check-unit
# shellcheck source=../../tests/packaging/lib.sh
source "$here/../../tests/packaging/lib.sh"

# 1. systemd-analyze verify, every unit at once (a timer next to its service).
mkdir "$work/units"
gateway_unit=""
for u in "${units[@]}"; do
    [[ -e $u ]] || continue
    name=$(basename "$u" | sed 's/@\./@check./')
    cp "$u" "$work/units/$name"
    # From the source tree: /usr/bin/l0l3-NAME is BIN_DIR/l0l3-NAME, or a script packaging/*/l0l3-NAME.
    for command in $( ((installed)) || grep -oE '/usr/bin/l0l3-[a-z0-9-]+' "$u" | sort -u); do
        command=${command#/usr/bin/}
        target=$bin_dir/$command
        [[ -x $target ]] || target=$(find "$here/.." -mindepth 2 -maxdepth 2 -name "$command" -perm -u+x | head -1)
        [[ -n $target ]] && sed -i -E "s#/usr/bin/$command([^a-z0-9-]|\$)#$target\1#g" "$work/units/$name"
    done
    [[ $name == l0l3-gateway@check.service ]] && gateway_unit=$work/units/$name
done
[[ -n $gateway_unit ]] || fail "no l0l3-gateway@.service among ${units[*]}"
if command -v systemd-analyze >/dev/null; then
    if ! (cd "$work/units" && systemd-analyze verify --man=no ./*) 2>"$work/verify.log"; then
        fail "systemd-analyze verify failed on $(ls "$work/units" | tr '\n' ' ')"
    fi
    # Warnings about the host (no network-online target in a container...) are printed, not fatal.
    [[ -s $work/verify.log ]] && sed 's/^/check-unit: systemd-analyze: /' "$work/verify.log" >&2
    : >"$work/verify.log"
    echo "check-unit: systemd-analyze verify passed: $(ls "$work/units" | tr '\n' ' ')"
elif [[ ${L0L3_REQUIRE_SYSTEMD_ANALYZE:-0} == 1 ]]; then
    fail "systemd-analyze is not installed (scripts/install-deps.sh installs systemd)"
else
    echo "check-unit: systemd-analyze not installed, skipping verify"
fi

# 2. Secrets: users.acl rendered with fresh passwords, the unit's credentials and environment file.
secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
export L0L3_GATEWAY_PASSWORD=$(secret) L0L3_CONSOLE_PASSWORD=$(secret) L0L3_REPLICATION_PASSWORD=$(secret) \
    L0L3_SENTINEL_PASSWORD=$(secret) L0L3_TOPOLOGY_PASSWORD=$(secret)
bash "$render_acl" "$work/users.acl"
etc=$work/etc
mkdir -m 700 "$etc"
printf '%s\n' "$L0L3_GATEWAY_PASSWORD" >"$etc/gateway-check.redis-password"
client_key=sk-client-$(secret)
printf '%s default\n' "$(printf '%s' "$client_key" | sha256sum | cut -d' ' -f1)" >"$etc/gateway-check.api-keys"
printf 'L0L3_UPSTREAM_API_KEY=sk-check-unit\nL0L3_SENTINEL_AUTH_PASSWORD=%s\n' "$(secret)" >"$etc/gateway-check.env"
chmod 600 "$etc"/*

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --aclfile "$work/users.acl" \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=($redis_pid)
redis_ping() { redis-cli --user gateway --pass "$L0L3_GATEWAY_PASSWORD" --no-auth-warning -p "$redis_port" ping 2>/dev/null | grep -q PONG; }
poll 100 redis_ping || fail "redis-server did not start"
stub_port=$(free_port)
"$stub" --listen "127.0.0.1:$stub_port" >"$work/stub.log" 2>&1 &
stub_pid=$!
pids+=($stub_pid)
stub_up() { curl -fs -o /dev/null "http://127.0.0.1:$stub_port/healthz"; }
poll 100 stub_up || fail "l0l3-stub-llm did not start"

# The example as shipped is valid (credentials as the unit gives them).
check_env=$(cat "$etc/gateway-check.env")
env $check_env "$gateway" --config "$example" --redis-password-file "$etc/gateway-check.redis-password" \
    --api-keys-file "$etc/gateway-check.api-keys" --check-config >"$work/check-config.log" 2>&1 \
    || fail "the example configuration $example fails --check-config"
echo "check-unit: $example passes --check-config"

# The example pointed at the loopback servers: every Redis address to redis-server, the upstream to the stub.
sed -E -e "s#^listen = .*#listen = 127.0.0.1:0#" \
    -e "s#^upstream = .*#upstream = http://127.0.0.1:$stub_port/v1#" \
    -e "s#@[0-9.]+:[0-9]+#@127.0.0.1:$redis_port#" \
    -e '/^(sentinel|sentinel-user|master-name|redis-hosts) =/d' \
    "$example" >"$etc/gateway-check.conf"

# The unit's ExecStart and EnvironmentFile as systemd would use them (%i, ${CREDENTIALS_DIRECTORY} filled in).
creds=$work/credentials
mkdir -m 700 "$creds"
python3 - "$gateway_unit" "$etc" "$creds" >"$work/command" <<'EOF'
import os, re, shlex, shutil, sys
unit, etc, creds = sys.argv[1:4]
joined = []
for line in open(unit).read().splitlines():
    if joined and joined[-1].endswith('\\'):
        joined[-1] = joined[-1][:-1] + ' ' + line.strip()
    else:
        joined.append(line)
def fill(text):
    return text.replace('%i', 'check').replace('/etc/l0l3', etc).replace('${CREDENTIALS_DIRECTORY}', creds)
env = []
for line in joined:
    key, _, value = line.partition('=')
    if key == 'LoadCredential':
        name, _, path = fill(value).partition(':')
        shutil.copy(path, os.path.join(creds, name))
    elif key == 'EnvironmentFile':
        path = fill(value).lstrip('-')
        if os.path.exists(path):
            env += [l.strip() for l in open(path) if l.strip() and not l.startswith('#')]
    elif key == 'Environment':
        env.append(fill(value))
exec_start = [fill(l.split('=', 1)[1]) for l in joined if l.startswith('ExecStart=')]
assert len(exec_start) == 1, 'one ExecStart expected'
print(' '.join(shlex.quote(e) for e in env) + ' ' + exec_start[0])
EOF
command=$(sed -E "s#/usr/bin/l0l3-gateway#$gateway#" "$work/command")
echo "check-unit: running the unit's command: $(sed -E 's/(PASSWORD|KEY)=[^ ]*/\1=.../g' <<<"$command")"
eval "exec env $command" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=($gateway_pid)
listen_port=""
listening() {
    listen_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/gateway.log" | head -1)
    [[ -n $listen_port ]] || { kill -0 "$gateway_pid" 2>/dev/null && return 1; fail "the gateway exited at start"; }
}
poll 150 listening || fail "the gateway did not start listening"
echo "check-unit: gateway listening on port $listen_port"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$listen_port/healthz" || true)
[[ $status == 200 ]] || fail "/healthz answered $status, expected 200"
echo "check-unit: /healthz answered 200"
answer=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $client_key" -H 'Content-Type: application/json' \
    -d '{"model":"check-unit","messages":[{"role":"user","content":"Is the package alive?"}]}' \
    "http://127.0.0.1:$listen_port/v1/chat/completions" || true)
[[ $(tail -1 <<<"$answer") == 200 ]] && grep -q '"choices"' <<<"$answer" \
    || fail "the chat completion failed: $answer"
echo "check-unit: a chat completion was answered"
stop_checked "the gateway" "$gateway_pid"
stop_checked l0l3-stub-llm "$stub_pid"
stop_checked redis-server "$redis_pid"
pids=()
echo "check-unit: OK"
