#!/usr/bin/env bash
# Installs, from Debian's packages, everything the build, the tests, the demo
# and the benchmarks need, then the OpenAI Node SDK the SDK test drives
# (tests/sdk, exactly as pinned in its package-lock.json). Idempotent and
# quiet when all is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  clang libclang-rt-14-dev clang-format
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev libqt6opengl6-dev qt6-websockets-dev
  qtkeychain-qt6-dev libgl-dev
  libboost-dev libhiredis-dev libsimdjson-dev libxxhash-dev libutf8proc-dev
  libssl-dev openssl systemd
  libbenchmark-dev
  redis-server redis-tools
  xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools
  wrk nginx-light curl procps iproute2 python3
  # promtool (packaging/prometheus checks); PyYAML for the rule and manifest checks
  prometheus python3-yaml
  nodejs npm
)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sdk_dir=$repo/tests/sdk

# The SDK for tests/integration/tst_openaisdk: `npm ci` installs exactly what
# package-lock.json pins. Only when node_modules is missing or older than the
# lock file, so that a second run is quiet and needs no network.
install_sdk() {
  local modules=$sdk_dir/node_modules lock=$sdk_dir/package-lock.json
  if [[ -d $modules && ! $lock -nt $modules ]]; then
    return 0
  fi
  echo "install-deps: installing the OpenAI SDK into tests/sdk/node_modules (npm ci)"
  if ! npm ci --prefix "$sdk_dir" --no-audit --no-fund >/tmp/l0l3-npm.log 2>&1; then
    tail -30 /tmp/l0l3-npm.log >&2
    echo "install-deps: npm ci failed (full log: /tmp/l0l3-npm.log)" >&2
    exit 1
  fi
  # The directory's time changes only with its entries: mark it as newer than the lock.
  touch "$modules"
}

missing=()
for p in "${PACKAGES[@]}"; do
  # NodeSource's nodejs package bundles npm and conflicts with Debian's: an npm
  # already on PATH counts as installed.
  if [[ $p == npm ]] && command -v npm >/dev/null; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  install_sdk
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
install_sdk
echo "install-deps: done"
