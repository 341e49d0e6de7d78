#!/usr/bin/env bash
# Installs, from Debian's packages, everything the build, the tests, the demo
# and the benchmarks need. Idempotent and quiet when all is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  clang libclang-rt-14-dev
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev libqt6opengl6-dev qt6-websockets-dev
  qtkeychain-qt6-dev libgl-dev
  libboost-dev libhiredis-dev libsimdjson-dev libxxhash-dev libutf8proc-dev
  libssl-dev openssl systemd
  libbenchmark-dev
  redis-server redis-tools
  xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools
  wrk nginx-light curl procps iproute2 python3
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or install them with apt-get" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Daemons we install (redis, nginx) are started by our own fixtures on free
# loopback ports; keep the package scripts from starting system-wide copies.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap 'if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
apt_get() { apt-get -o Dpkg::Use-Pty=0 -qq "$@"; }
if ! apt_get install -y --no-install-recommends "${missing[@]}" >/tmp/l0l3-apt.log 2>&1; then
  apt_get update >/dev/null
  apt_get install -y --no-install-recommends "${missing[@]}" >/tmp/l0l3-apt.log 2>&1 || {
    tail -30 /tmp/l0l3-apt.log >&2
    echo "install-deps: apt-get install failed (full log: /tmp/l0l3-apt.log)" >&2
    exit 1
  }
fi
echo "install-deps: done"
