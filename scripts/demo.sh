#!/usr/bin/env bash
# demo.sh [extra args] — installs, builds and runs the three-region demo:
# Redis primary + replicas + Sentinels, a gateway per region, the stub LLM
# and the traffic generator, driven by the console. Without a display it runs
# headless and prints a status line per second (Ctrl+C stops everything).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh default
bin=build/default/bin
args=("$@")
if [[ -x $bin/l0l3-console ]]; then
  if [[ -z ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]] && [[ " ${args[*]} " != *" --screenshot "* ]]; then
    echo "demo: no display found; running headless (set DISPLAY for the window)"
    args=(--headless "${args[@]}")
  fi
  exec "$bin/l0l3-console" --demo "${args[@]}"
fi
exec "$bin/l0l3-demo" "${args[@]}"
