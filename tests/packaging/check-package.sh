#!/usr/bin/env bash
# The Debian packages end to end, on this machine (the CI machine is a
# throwaway root machine):
#  1. packs BIN_DIR's programs with packaging/debian (CPack, as
#     scripts/package.sh does after its own build);
#  2. checks the packages: files, stripped binaries, the unit, conffiles,
#     Depends, maintainer scripts;
#  3. installs them with dpkg -i and checks the installed programs' libraries
#     resolve and that l0l3-gateway(1) documents every option of --help;
#  4. packaging/systemd/check-unit.sh --installed: systemd-analyze verify on
#     the installed units, the installed gateway run with the installed unit's
#     command line and example configuration against a loopback Redis and a
#     stub upstream (/healthz 200, a chat completion, exit 0 on SIGTERM);
#  5. removes them (dpkg -r: conffiles stay), then purges them (dpkg -P:
#     nothing of them stays).
# Exit 77 (ctest: skipped) when not root or without dpkg.
# Usage: check-package.sh BIN_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
bin_dir=$(realpath "${1:?usage: check-package.sh BIN_DIR}")
if [[ $(id -u) -ne 0 ]]; then
    echo "check-package: SKIP: dpkg -i needs root"
    exit 77
fi
for tool in dpkg dpkg-deb cpack; do
    command -v "$tool" >/dev/null || { echo "check-package: SKIP: no $tool"; exit 77; }
done

# One run at a time on this machine (dpkg's own lock fails instead of waiting).
exec 9>/tmp/l0l3-check-package.lock
flock 9

packages=(l0l3-gateway l0l3-ctl l0l3-console l0l3-doc)
work=$(mktemp -d)
installed=0
cleanup() {
    if ((installed)); then dpkg -P "${packages[@]}" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "check-package: $*" >&2
    exit 1
}
# dpkg with its lock held by apt elsewhere: wait for it, a bounded time.
dpkg_retry() {
    local out
    for _ in $(seq 120); do
        if out=$(dpkg "$@" 2>&1); then
            return 0
        fi
        grep -qi 'lock' <<<"$out" || { echo "$out" >&2; return 1; }
        sleep 1
    done
    echo "$out" >&2
    return 1
}

# 1. Pack.
start=$SECONDS
cmake -S "$source_dir/packaging/debian" -B "$work/build" -DL0L3_BIN_DIR="$bin_dir" >"$work/configure.log" 2>&1 \
    || { cat "$work/configure.log" >&2; fail "configuring packaging/debian failed"; }
cpack --config "$work/build/CPackConfig.cmake" -B "$work/debs" >"$work/cpack.log" 2>&1 \
    || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
debs=()
for p in "${packages[@]}"; do
    deb=$(ls "$work"/debs/"${p}"_*.deb 2>/dev/null | head -1)
    [[ -n $deb ]] || fail "cpack made no $p package: $(ls "$work/debs")"
    debs+=("$deb")
done
echo "check-package: packed in $((SECONDS - start)) s: $(cd "$work/debs" && ls ./*.deb | tr '\n' ' ')"

# 2. Contents.
deb_of() { ls "$work"/debs/"$1"_*.deb; }
files_of() { dpkg-deb -c "$(deb_of "$1")" | awk '{print $6}' | sed 's|^\./|/|'; }
expect_file() { # PACKAGE PATH
    files_of "$1" | grep -x "$2" >/dev/null || fail "$1 does not contain $2"
}
expect_file l0l3-gateway /usr/bin/l0l3-gateway
expect_file l0l3-gateway /lib/systemd/system/l0l3-gateway@.service
expect_file l0l3-gateway /etc/l0l3/gateway-example.conf
expect_file l0l3-gateway /usr/share/man/man1/l0l3-gateway.1.gz
expect_file l0l3-ctl /usr/bin/l0l3-ctl
expect_file l0l3-console /usr/bin/l0l3-console
for unit in "$source_dir"/packaging/systemd/*.service "$source_dir"/packaging/systemd/*.timer; do
    [[ -e $unit ]] || continue
    name=$(basename "$unit")
    owner=l0l3-ctl
    [[ $name == l0l3-gateway* ]] && owner=l0l3-gateway
    expect_file "$owner" "/lib/systemd/system/$name"
done
for f in redis/primary.conf redis/replica.conf redis/sentinel.conf redis/users.acl render-acl.sh \
    redis/primary-tls.conf redis/replica-tls.conf redis/sentinel-tls.conf; do
    expect_file l0l3-doc "/usr/share/doc/l0l3/examples/$f"
done
expect_file l0l3-doc /usr/share/doc/l0l3/ARCHITECTURE.md
[[ $(dpkg-deb -f "$(deb_of l0l3-doc)" Architecture) == all ]] || fail "l0l3-doc is not Architecture: all"
# Only what the package declares: the example is a conffile, nothing else under /etc is shipped.
conffiles=$(dpkg-deb --ctrl-tarfile "$(deb_of l0l3-gateway)" | tar -xO ./conffiles)
[[ $conffiles == /etc/l0l3/gateway-example.conf ]] || fail "l0l3-gateway conffiles: '$conffiles'"
[[ $(files_of l0l3-gateway | grep -c '^/etc/.*[^/]$') == 1 ]] || fail "l0l3-gateway ships other files under /etc"
# The listing is read whole first: grep -q in the pipe would exit at its match and, under
# pipefail, tar's SIGPIPE would fail the check at random.
control=$(dpkg-deb --ctrl-tarfile "$(deb_of l0l3-gateway)" | tar -t)
for script in postinst prerm postrm; do
    grep -qx "./$script" <<<"$control" || fail "l0l3-gateway has no $script"
done
expect_depends() { # PACKAGE LIBRARY-PACKAGE...
    local depends
    depends=$(dpkg-deb -f "$(deb_of "$1")" Depends)
    shift
    for d in "$@"; do
        grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends of the package lacks $d: $depends"
    done
}
expect_depends l0l3-gateway libc6 libstdc\\+\\+6 libssl3 libhiredis0.14 libsimdjson14
expect_depends l0l3-ctl libqt6core6 libqt6network6 libhiredis0.14
expect_depends l0l3-console libqt6widgets6 libqt6charts6
dpkg-deb -f "$(deb_of l0l3-gateway)" Depends | grep -q qt && fail "l0l3-gateway depends on Qt"
mkdir "$work/x"
dpkg-deb -x "$(deb_of l0l3-gateway)" "$work/x"
readelf -S "$work/x/usr/bin/l0l3-gateway" | grep -q '\.debug_info' && fail "l0l3-gateway is not stripped"
echo "check-package: contents, conffiles, Depends and maintainer scripts as expected"

# 3. Install.
installed=1
dpkg_retry -i "${debs[@]}" || fail "dpkg -i failed"
for p in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p") == "install ok installed" ]] || fail "$p is not installed"
done
for b in /usr/bin/l0l3-gateway /usr/bin/l0l3-ctl /usr/bin/l0l3-console; do
    ldd "$b" | grep -q 'not found' && { ldd "$b" >&2; fail "$b misses libraries"; }
done
/usr/bin/l0l3-gateway --version | grep -qx "l0l3-gateway $(dpkg-query -W -f='${Version}' l0l3-gateway | sed 's/-[^-]*$//')" \
    || fail "the installed gateway's --version does not match the package version"
/usr/bin/l0l3-ctl --help >/dev/null || fail "l0l3-ctl --help failed"
QT_QPA_PLATFORM=offscreen /usr/bin/l0l3-console --version >/dev/null || fail "l0l3-console --version failed"
# Every option of --help is in the manual.
manual=$(zcat /usr/share/man/man1/l0l3-gateway.1.gz | sed 's/\\-/-/g')
options=$(/usr/bin/l0l3-gateway --help | grep -oE '^  --[a-z0-9-]+' | sed 's/^ *//')
[[ $(wc -l <<<"$options") -gt 40 ]] || fail "l0l3-gateway --help lists too few options: $options"
for o in $options; do
    grep -qE "(^|[^a-z0-9-])$o([^a-z0-9-]|$)" <<<"$manual" || fail "l0l3-gateway(1) does not document $o"
done
echo "check-package: installed; l0l3-gateway(1) documents all $(wc -l <<<"$options") options of --help"

# 4. The installed units and gateway, live.
bash "$source_dir/packaging/systemd/check-unit.sh" --installed "$bin_dir" || fail "the installed unit does not run"

# 5. Remove (conffiles stay), purge (nothing stays).
dpkg_retry -r "${packages[@]}" || fail "dpkg -r failed"
[[ -e /usr/bin/l0l3-gateway || -e /lib/systemd/system/l0l3-gateway@.service ]] && fail "dpkg -r left files behind"
[[ -e /etc/l0l3/gateway-example.conf ]] || fail "dpkg -r removed the conffile"
dpkg_retry -P "${packages[@]}" || fail "dpkg -P failed"
installed=0
[[ -e /etc/l0l3/gateway-example.conf ]] && fail "dpkg -P left the conffile"
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed && fail "$p is still installed"
done
echo "check-package: removed and purged; OK in $((SECONDS - start)) s"
