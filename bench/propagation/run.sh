#!/usr/bin/env bash
# bench/propagation/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [-- extra l0l3_bench_propagation args]
#
# Propagation and failover benchmarks on the three-region local
# stack (l0l3_bench_propagation, real redis-server/sentinel/gateway processes):
# approve -> first hit on every region and revoke -> gone from every L0.5,
# p50/p99 over 200 approvals; kill -9 of the primary -> first accepted
# approval on the new primary, 3 runs. Prints a markdown section on stdout
# (scripts/bench.sh appends it to its report); raw output in OUT/propagation.txt.
# --smoke: 5 approvals and one failover, no speed verdict.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
bench_parse propagation l0l3_bench_propagation "$@"

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
