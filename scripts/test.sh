#!/usr/bin/env bash
# test.sh [ctest args...] — installs what is missing, builds and runs the whole
# test suite, in three stages:
#   default  RelWithDebInfo build, every ctest (unit, integration against real
#            redis-server/sentinel/gateway processes, UI offscreen, keychain
#            under a private D-Bus + gnome-keyring, benchmark smoke runs)
#   fuzz     clang libFuzzer build: every corpus + regression input replayed,
#            then the targets fuzzed for L0L3_FUZZ_SECONDS (default 10) seconds
#            each on average (fuzz.sh gives the HTTP and RESP parsers three
#            shares of the total to the others' one) from libFuzzer seed
#            L0L3_FUZZ_SEED (default 1: the suite repeats one exploration and
#            fails only on what a change broke; 0 picks a random seed; longer
#            exploring is `scripts/fuzz.sh 600`)
#   asan     the suite again under AddressSanitizer + UBSan, less the
#            console's widget tests (tests/ui) and the benchmarks: everything
#            that parses untrusted input or holds the product's state
#            (common, gateway, control, ctl, the integration tests against
#            real processes) runs under it, and the widget tests, which
#            exercise Qt's views more than our code, are a sixth of a cold
#            build that CI must finish on two cores
# L0L3_TEST_STAGES="default fuzz asan" picks stages; extra args go to ctest.
# Wall-clock bounds in the tests are tuned for the default build and scaled by
# L0L3_TIME_SCALE (tests/support/timescale.h): 1 for default, and
# L0L3_ASAN_TIME_SCALE (default 5) for the slower sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=${L0L3_TEST_STAGES:-default fuzz asan}
export QT_QPA_PLATFORM=offscreen
jobs=${L0L3_TEST_JOBS:-2}
status=0
summary=()

run_ctest() {
  local preset=$1; shift
  local start=$SECONDS
  bash scripts/build.sh "$preset"
  echo "test: ctest --preset $preset $*"
  if ctest --preset "$preset" -j"$jobs" --timeout 600 "$@"; then
    summary+=("$preset: passed ($((SECONDS - start)) s)")
  else
    summary+=("$preset: FAILED ($((SECONDS - start)) s)")
    status=1
  fi
}

for stage in $stages; do
  case $stage in
    default)
      export L0L3_TIME_SCALE=1
      run_ctest default "$@"
      unset L0L3_TIME_SCALE ;;
    asan)
      # Leak checking is on, in every child process too (tests/lsan.supp says
      # why nothing of Qt is suppressed).
      export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
      export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
      export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
      export L0L3_TIME_SCALE=${L0L3_ASAN_TIME_SCALE:-5}
      run_ctest asan -LE bench "$@"
      unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS L0L3_TIME_SCALE ;;
    fuzz)
      start=$SECONDS
      if bash scripts/fuzz.sh --regress && bash scripts/fuzz.sh --no-build --seed "${L0L3_FUZZ_SEED:-1}" "${L0L3_FUZZ_SECONDS:-10}"; then
        summary+=("fuzz: passed ($((SECONDS - start)) s)")
      else
        summary+=("fuzz: FAILED ($((SECONDS - start)) s)")
        status=1
      fi ;;
    *) echo "test.sh: unknown stage '$stage'" >&2; exit 2 ;;
  esac
done

echo
for line in "${summary[@]}"; do echo "test: $line"; done
exit $status
