#!/usr/bin/env bash
# test.sh [PRESET] [ctest args...] — installs, builds and runs the whole test suite.
# Real redis-server, sentinel, gateway and stub LLM processes are started by
# the tests themselves on free loopback ports; the keychain test starts its
# own D-Bus session and gnome-keyring (tests/ui/run-with-keyring.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
shift || true
bash scripts/build.sh "$preset"
export QT_QPA_PLATFORM=offscreen
echo "test: ctest --preset $preset"
ctest --preset "$preset" -j"${L0L3_TEST_JOBS:-2}" --timeout 600 "$@"
