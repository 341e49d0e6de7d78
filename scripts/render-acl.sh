#!/usr/bin/env bash
# render-acl.sh OUT  — writes packaging/redis/users.acl with real password
# hashes. Passwords come from L0L3_GATEWAY_PASSWORD, L0L3_CONSOLE_PASSWORD,
# L0L3_REPLICATION_PASSWORD, L0L3_SENTINEL_PASSWORD, L0L3_TOPOLOGY_PASSWORD
# (all required).
set -euo pipefail
out=${1:?usage: render-acl.sh OUT}
src="$(dirname "$0")/../packaging/redis/users.acl"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# mktemp creates the file 0600 before anything is written to it; mv replaces
# OUT whole (an existing OUT keeps no mode of its own, and is never chmod'ed
# after the hashes are in it).
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
sed -e "s/@GATEWAY_SHA256@/$(sha "${L0L3_GATEWAY_PASSWORD:?}")/" \
    -e "s/@CONSOLE_SHA256@/$(sha "${L0L3_CONSOLE_PASSWORD:?}")/" \
    -e "s/@REPLICATION_SHA256@/$(sha "${L0L3_REPLICATION_PASSWORD:?}")/" \
    -e "s/@SENTINEL_SHA256@/$(sha "${L0L3_SENTINEL_PASSWORD:?}")/" \
    -e "s/@TOPOLOGY_SHA256@/$(sha "${L0L3_TOPOLOGY_PASSWORD:?}")/" \
    "$src" | grep -v -e "^#" -e "^$" >"$tmp"
mv -f "$tmp" "$out"
trap - EXIT
