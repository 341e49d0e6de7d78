#!/usr/bin/env bash
# build.sh [PRESET] — installs what is missing, configures and builds.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/install-deps.sh
if [[ ! -f build/$preset/build.ninja ]]; then
  cmake --preset "$preset" >/dev/null
fi
jobs=${L0L3_JOBS:-$(nproc)}
echo "build: cmake --build --preset $preset -j$jobs"
cmake --build --preset "$preset" -j"$jobs"
