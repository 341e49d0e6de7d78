#!/usr/bin/env bash
# bench/semantic/run.sh [--smoke] [--bin-dir DIR] [--out DIR] [-- extra l0l3_bench_semantic args]
#
# L1 against the labelled set bench/semantic/set.json on real processes (redis-server
# primary and replica, l0l3-stub-llm, l0l3-gateway --semantic serve --no-hot-cache):
# recall of the paraphrases, wrong answers on the hard negatives (the run fails if
# any), an L1 hit against an L0 hit end to end in the same run, and the operator
# decisions clustering saves. Extra args: --set FILE (another labelled set),
# --threshold T (the entries' L1 threshold, 0.80 to 1.01; default 0.92),
# --latency-requests N, --clustering-only (the decisions alone, no processes),
# --embeddings URL|stub --embeddings-model NAME (an OpenAI-compatible endpoint for the
# gateway and the records' vectors; key in L0L3_EMBEDDINGS_API_KEY).
# Prints a markdown section on stdout; the log goes to OUT/semantic.log.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
bench_parse semantic l0l3_bench_semantic "$@"
export L0L3_BIN_DIR=$bin

echo "semantic/run.sh: $exe ${args[*]} (log: $out/semantic.log)" >&2
status=0
"$exe" "${args[@]}" >"$out/semantic.md" 2>"$out/semantic.log" || status=$?
cat "$out/semantic.md"
if ((status != 0)); then
  tail -20 "$out/semantic.log" >&2
  exit "$status"
fi
