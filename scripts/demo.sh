#!/usr/bin/env bash
# demo.sh [extra args] — installs, builds and runs the three-region demo:
# Redis primary + replicas + Sentinels, a gateway per region, the stub LLM
# and the traffic generator, driven by the console. Without a display it runs
# headless and prints a status line per second (Ctrl+C stops everything);
# with nobody to press Enter there, a demo autopilot approves the top-ranked
# proposal every 2 s (--auto-approve 2, audited as demo-autopilot) so the hit
# rates move. Pass your own --auto-approve S to change the pace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh default
bin=build/default/bin
args=("$@")
if [[ -x $bin/l0l3-console ]]; then
  if [[ -z ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]] && [[ " ${args[*]} " != *" --screenshot "* ]]; then
    echo "demo: no display found; running headless (set DISPLAY for the window)"
    args=(--headless "${args[@]}")
    [[ " ${args[*]} " == *" --auto-approve "* ]] || args+=(--auto-approve 2)
  fi
  exec "$bin/l0l3-console" --demo "${args[@]}"
fi
exec "$bin/l0l3-demo" "${args[@]}"
