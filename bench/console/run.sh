#!/usr/bin/env bash
# bench/console/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [-- extra l0l3_bench_console args]
#
# Console benchmark of issue 6 (l0l3_bench_console, offscreen Qt): time to
# load 100k proposals into the queue view (median of 3), and the UI thread's
# longest stall over 20 dashboard ticks scraping 60 synthetic gateways.
# Prints a markdown section on stdout (scripts/bench.sh appends it to its
# report); the progress log goes to OUT/console.log. --smoke: 5k proposals,
# 3 ticks, no speed verdict.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

bin=$repo/build/default/bin
out=""
args=()
while (($#)); do
  case $1 in
    --smoke) args+=(--smoke) ;;
    --bin-dir) bin=$2; shift ;;
    --out) out=$2; shift ;;
    --) shift; args+=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "console/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n $out ]] || out=$repo/build/bench-results/console-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
exe=$bin/l0l3_bench_console
[[ -x $exe ]] || { echo "console/run.sh: $exe is missing (build target l0l3_bench_console)" >&2; exit 1; }

export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
echo "console/run.sh: $exe ${args[*]} (log: $out/console.log)" >&2
if ! "$exe" "${args[@]}" >"$out/console.md" 2>"$out/console.log"; then
  tail -20 "$out/console.log" >&2
  exit 1
fi
cat "$out/console.md"
