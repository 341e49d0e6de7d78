#!/usr/bin/env bash
# bench/propagation/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [-- extra l0l3_bench_propagation args]
#
# Propagation and failover benchmarks of issue 6 on the three-region demo
# stack (l0l3_bench_propagation, real redis-server/sentinel/gateway processes):
# approve -> first hit on every region and revoke -> gone from every L0.5,
# p50/p99 over 200 approvals; kill -9 of the primary -> first accepted
# approval on the new primary, 3 runs. Prints a markdown section on stdout
# (scripts/bench.sh appends it to its report); raw output in OUT/propagation.txt.
# --smoke: 5 approvals and one failover, no speed verdict.
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
    *) echo "propagation/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n $out ]] || out=$repo/build/bench-results/propagation-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
exe=$bin/l0l3_bench_propagation
[[ -x $exe ]] || { echo "propagation/run.sh: $exe is missing (build target l0l3_bench_propagation)" >&2; exit 1; }

export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
echo "propagation/run.sh: $exe --bin-dir $bin ${args[*]} (log: $out/propagation.log)" >&2
if ! "$exe" --bin-dir "$bin" "${args[@]}" >"$out/propagation.txt" 2>"$out/propagation.log"; then
  cat "$out/propagation.txt" >&2
  tail -20 "$out/propagation.log" >&2
  exit 1
fi
echo "## Propagation and failover (demo stack, real processes)"
echo
echo '```'
cat "$out/propagation.txt"
echo '```'
