#!/usr/bin/env bash
# render-acl.sh OUT [--sentinel SENTINEL_OUT] [--masterauth MASTERAUTH_OUT]
#   OUT: packaging/redis/users.acl with real password hashes (every data node
#     loads the same file: aclfile).
#   --sentinel: packaging/redis/sentinel.conf with its own ACL user's hash
#     (@SENTINEL_AUTH_SHA256@) and the two passwords a Sentinel has to send in
#     clear (auth-pass to the data nodes as user "sentinel", sentinel-pass to
#     its peers as l0l3-sentinel). Sentinel rewrites this file at run time:
#     it must be writable by redis, and stays unreadable to anyone else.
#   --masterauth: the line `masterauth PASSWORD` (the replication user's) that
#     primary.conf and replica.conf include, so that any node can replicate
#     from any other after a failover.
# Passwords come from L0L3_GATEWAY_PASSWORD, L0L3_CONSOLE_PASSWORD,
# L0L3_REPLICATION_PASSWORD, L0L3_SENTINEL_PASSWORD, L0L3_TOPOLOGY_PASSWORD
# (all required) and, with --sentinel, L0L3_SENTINEL_AUTH_PASSWORD (the
# Sentinels' own user, the one gateways and consoles give to Sentinels).
# With --sentinel, L0L3_PRIMARY_HOST (when set) replaces PRIMARY_HOST and
# L0L3_HOST_ADDRESS (when set) replaces HOST_ADDRESS.
# The templates: L0L3_REDIS_TEMPLATES, else packaging/redis next to this
# script's directory (the source tree), else redis/ beside it (as installed by
# the l0l3-doc package in /usr/share/doc/l0l3/examples).
set -euo pipefail
out=${1:?usage: render-acl.sh OUT [--sentinel SENTINEL_OUT] [--masterauth MASTERAUTH_OUT]}
shift
sentinel_out=""
masterauth_out=""
while (($#)); do
    case $1 in
    --sentinel) sentinel_out=${2:?--sentinel needs a file}; shift 2 ;;
    --masterauth) masterauth_out=${2:?--masterauth needs a file}; shift 2 ;;
    *) echo "render-acl.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
templates=${L0L3_REDIS_TEMPLATES:-}
if [[ -z $templates ]]; then
    templates=$here/../packaging/redis
    [[ -f $templates/users.acl ]] || templates=$here/redis
fi
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# A password written in clear into a Redis configuration file: one word
# (no whitespace, quote or backslash, which that syntax would need escaped).
check_word() {
    [[ $1 =~ ^[^[:space:]\"\'\\]+$ ]] \
        || { echo "render-acl.sh: a password must be one word without quotes or backslashes" >&2; exit 2; }
}
# As a sed replacement with '|' as the delimiter.
literal() { printf '%s' "$1" | sed -e 's/[&|]/\\&/g'; }
# render TEMPLATE OUT SED-ARGS...: mktemp creates the file 0600 before
# anything is written to it; mv replaces OUT whole (an existing OUT keeps no
# mode of its own, and is never chmod'ed after the secrets are in it).
render() {
    local template=$1 target=$2 tmp
    shift 2
    tmp=$(mktemp "$target.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -f '$tmp'" EXIT
    sed "$@" "$template" | grep -v -e "^#" -e "^$" >"$tmp"
    mv -f "$tmp" "$target"
    trap - EXIT
}

render "$templates/users.acl" "$out" \
    -e "s/@GATEWAY_SHA256@/$(sha "${L0L3_GATEWAY_PASSWORD:?}")/" \
    -e "s/@CONSOLE_SHA256@/$(sha "${L0L3_CONSOLE_PASSWORD:?}")/" \
    -e "s/@REPLICATION_SHA256@/$(sha "${L0L3_REPLICATION_PASSWORD:?}")/" \
    -e "s/@SENTINEL_SHA256@/$(sha "${L0L3_SENTINEL_PASSWORD:?}")/" \
    -e "s/@TOPOLOGY_SHA256@/$(sha "${L0L3_TOPOLOGY_PASSWORD:?}")/"

if [[ -n $sentinel_out ]]; then
    check_word "${L0L3_SENTINEL_AUTH_PASSWORD:?}"
    check_word "$L0L3_SENTINEL_PASSWORD"
    host_args=()
    [[ -n ${L0L3_PRIMARY_HOST:-} ]] && host_args+=(-e "s|PRIMARY_HOST|$(literal "$L0L3_PRIMARY_HOST")|g")
    [[ -n ${L0L3_HOST_ADDRESS:-} ]] && host_args+=(-e "s|HOST_ADDRESS|$(literal "$L0L3_HOST_ADDRESS")|g")
    render "$templates/sentinel.conf" "$sentinel_out" \
        -e "s|@SENTINEL_AUTH_SHA256@|$(sha "$L0L3_SENTINEL_AUTH_PASSWORD")|" \
        -e "s|@SENTINEL_AUTH_PASSWORD@|$(literal "$L0L3_SENTINEL_AUTH_PASSWORD")|" \
        -e "s|@SENTINEL_PASSWORD@|$(literal "$L0L3_SENTINEL_PASSWORD")|" \
        "${host_args[@]}"
fi
if [[ -n $masterauth_out ]]; then
    tmp=$(mktemp "$masterauth_out.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    check_word "$L0L3_REPLICATION_PASSWORD"
    printf 'masterauth %s\n' "$L0L3_REPLICATION_PASSWORD" >"$tmp"
    mv -f "$tmp" "$masterauth_out"
    trap - EXIT
fi
