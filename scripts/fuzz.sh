#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      fuzz every target (default 30 s each on average:
#                                             the total is shared by weight, see weight_of)
#   scripts/fuzz.sh --regress                 run every corpus and regression input once (CI, ctest)
#   options: --build-dir DIR (default build/fuzz), --no-build, --seed N (libFuzzer's
#            -seed; 0, the default, picks a random one), TARGET... (default: all)
#
# The build is a separate clang build dir, configured as:
#   CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#     -DL0L3_BUILD_CONSOLE=OFF -DL0L3_BUILD_TESTS=OFF -DL0L3_BUILD_BENCH=OFF -DL0L3_BUILD_FUZZ=ON
# tests/fuzz/CMakeLists.txt adds -fsanitize=address,undefined -fsanitize=fuzzer-no-link to
# l0l3_common and l0l3_gateway and links each target with -fsanitize=fuzzer,address,undefined.
#
# Fuzzing runs each target on a scratch copy of tests/fuzz/corpus/<target>/ (the
# repo corpus stays small and readable) plus tests/fuzz/regressions/<target>/,
# plus the corpus grown by earlier runs on this machine: after a clean run the
# scratch corpus is minimised (-merge=1) into L0L3_FUZZ_CORPUS_CACHE/<target>
# (default ~/.cache/l0l3/fuzz-corpus; empty L0L3_FUZZ_CORPUS_CACHE turns it
# off), so a machine that keeps its cache starts each run where the last ended.
# A crash, leak, timeout or out-of-memory input is copied into
# tests/fuzz/regressions/<target>/ and the script exits non-zero; fix the bug
# and keep the input there, the regression mode replays it forever after.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$ROOT/build/fuzz
SECONDS_PER_TARGET=30
MODE=fuzz
BUILD=1
SEED=0
TARGETS=()
ALL_TARGETS=(fuzz_normaliser fuzz_canonicaljson fuzz_entrycodec fuzz_proposalcodec
             fuzz_prometheusparser fuzz_redisurl fuzz_controlmessage fuzz_hiredisarena fuzz_chatrequest
             fuzz_httprequest fuzz_embeddingsresponse fuzz_vectorrecord)

while (($#)); do
  case $1 in
    --regress) MODE=regress ;;
    --no-build) BUILD=0 ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --seed) SEED=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) SECONDS_PER_TARGET=$1 ;;
    fuzz_*) TARGETS+=("$1") ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")

CORPUS=$ROOT/tests/fuzz/corpus
REGRESSIONS=$ROOT/tests/fuzz/regressions
BIN=$BUILD_DIR/bin
GROWN=${L0L3_FUZZ_CORPUS_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/l0l3/fuzz-corpus}

if ((BUILD)); then
  if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
    "$ROOT/scripts/install-deps.sh"
  fi
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DL0L3_BUILD_CONSOLE=OFF -DL0L3_BUILD_TESTS=OFF -DL0L3_BUILD_BENCH=OFF -DL0L3_BUILD_FUZZ=ON -DL0L3_CCACHE=ON >/dev/null
  nice cmake --build "$BUILD_DIR" --target "${TARGETS[@]}"
fi

# The share of the fuzzing time a target gets: the parsers of untrusted network
# input (client HTTP, Redis replies) get three times the others'.
weight_of() {
  case $1 in
    fuzz_httprequest|fuzz_hiredisarena) echo 3 ;;
    *) echo 1 ;;
  esac
}

# libFuzzer flags of one target: HTTP inputs must be able to grow past Beast's
# 64 KiB field limit and the 16 KiB header limit (trailers, message budget).
flags_of() {
  case $1 in
    fuzz_httprequest) echo -max_len=262144 ;;
  esac
}

# Every file of a directory, skipping notes left next to the inputs.
inputs_of() {
  [[ -d $1 ]] || return 0
  find "$1" -maxdepth 1 -type f ! -name 'README*' ! -name '.*' | sort
}

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/l0l3-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
if [[ $MODE == regress ]]; then
  for t in "${TARGETS[@]}"; do
    mapfile -t files < <(inputs_of "$CORPUS/$t"; inputs_of "$REGRESSIONS/$t")
    if ((${#files[@]} == 0)); then
      echo "$t: no inputs" >&2
      failed+=("$t")
      continue
    fi
    if "$BIN/$t" -rss_limit_mb=2048 -timeout=10 "${files[@]}" >"$SCRATCH/$t.log" 2>&1; then
      echo "$t: ${#files[@]} inputs OK"
    else
      tail -40 "$SCRATCH/$t.log" >&2
      echo "$t: FAILED on one of ${#files[@]} inputs" >&2
      failed+=("$t")
    fi
  done
else
  ((SEED == 0)) || echo "libFuzzer seed $SEED (the same mutations every run, give or take the time limit)"
  total_weight=0
  for t in "${TARGETS[@]}"; do total_weight=$((total_weight + $(weight_of "$t"))); done
  budget=$((SECONDS_PER_TARGET * ${#TARGETS[@]}))
  printf '%-24s %8s %12s %14s  %s\n' target seconds execs/s total_execs result
  for t in "${TARGETS[@]}"; do
    seconds=$((budget * $(weight_of "$t") / total_weight))
    ((seconds > 0)) || seconds=1
    work=$SCRATCH/$t/corpus
    artifacts=$SCRATCH/$t/artifacts
    mkdir -p "$work" "$artifacts"
    cp -r "$CORPUS/$t/." "$work/" 2>/dev/null || true
    [[ -n $GROWN && -d $GROWN/$t ]] && cp -r "$GROWN/$t/." "$work/" 2>/dev/null
    dirs=("$work")
    [[ -n $(inputs_of "$REGRESSIONS/$t") ]] && dirs+=("$REGRESSIONS/$t")
    log=$SCRATCH/$t.log
    rc=0
    # shellcheck disable=SC2046 # flags_of prints whole flags, split on purpose
    nice "$BIN/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -seed="$SEED" \
      $(flags_of "$t") -artifact_prefix="$artifacts/" "${dirs[@]}" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    result=ok
    mapfile -t found < <(inputs_of "$artifacts")
    if ((rc != 0 || ${#found[@]} > 0)); then
      result="FAILED (exit $rc)"
      mkdir -p "$REGRESSIONS/$t"
      for f in "${found[@]}"; do
        cp "$f" "$REGRESSIONS/$t/"
        result+=" kept tests/fuzz/regressions/$t/$(basename "$f")"
      done
      cp "$log" "$BUILD_DIR/$t-failure.log"
      failed+=("$t")
    elif [[ -n $GROWN ]]; then
      # Keep what this run found: minimise the scratch corpus into the cache.
      merged=$SCRATCH/$t/merged
      mkdir -p "$merged"
      # shellcheck disable=SC2046
      if "$BIN/$t" -merge=1 -rss_limit_mb=2048 -timeout=10 $(flags_of "$t") "$merged" "$work" >"$log.merge" 2>&1 \
         && mkdir -p "$GROWN" && rm -rf "$GROWN/$t.new" && mv "$merged" "$GROWN/$t.new"; then
        rm -rf "$GROWN/$t" && mv "$GROWN/$t.new" "$GROWN/$t"
        result+=" (corpus kept: $(find "$GROWN/$t" -type f | wc -l) inputs)"
      else
        result+=" (corpus not kept: merge failed, see $log.merge)"
      fi
    fi
    printf '%-24s %8s %12s %14s  %s\n' "$t" "$seconds" "${rate:-?}" "${execs:-?}" "$result"
  done
fi

if ((${#failed[@]})); then
  echo "fuzz.sh: failures in: ${failed[*]} (logs: $BUILD_DIR/<target>-failure.log)" >&2
  exit 1
fi
