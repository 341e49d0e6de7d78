#!/usr/bin/env bash
# bench/console/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [-- extra l0l3_bench_console args]
#
# Console benchmark (l0l3_bench_console, offscreen Qt): time to
# load 100k proposals into the queue view (median of 3), and the UI thread's
# longest stall over 20 dashboard ticks scraping 60 synthetic gateways, then
# 200 keyboard decisions at a 100k queue (keystroke -> next proposal shown).
# Prints a markdown section on stdout (scripts/bench.sh appends it to its
# report); the progress log goes to OUT/console.log. --smoke: 5k proposals,
# 3 ticks, no speed verdict.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
bench_parse console l0l3_bench_console "$@"

echo "console/run.sh: $exe ${args[*]} (log: $out/console.log)" >&2
if ! "$exe" "${args[@]}" >"$out/console.md" 2>"$out/console.log"; then
  tail -20 "$out/console.log" >&2
  exit 1
fi
cat "$out/console.md"
