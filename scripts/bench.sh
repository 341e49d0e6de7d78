#!/usr/bin/env bash
# scripts/bench.sh [--smoke] [--no-build] [--preset NAME] [--out DIR]
#
# Builds (scripts/build.sh, default preset) and runs the standing benchmarks
# below, then prints one markdown report (docs/BENCHMARKS.md explains it):
#   micro  Google Benchmark, build/<preset>/bin/l0l3_bench_micro, 3 repetitions, medians
#   http   bench/http/run.sh: nginx reference, L0.5 hits, L0 hits, misses; 32 and 64
#          connections, 3 x 10 s each, medians (about 5 minutes)
#   bench/{propagation,failover,console}/run.sh when they exist (control plane)
# --smoke: one short pass of each (seconds), for checking that it all still runs.
# Raw output (CSV, wrk logs) lands in --out, by default build/bench-results/<time>.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

smoke=0
build=1
preset=default
out=""
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --no-build) build=0 ;;
    --preset) preset=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

[[ -n $out ]] || out=$repo/build/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
bin=$repo/build/$preset/bin

if ((build)); then
  bash scripts/build.sh "$preset"
fi
for b in l0l3_bench_micro l0l3-gateway l0l3-stub-llm l0l3_bench_seed; do
  [[ -x $bin/$b ]] || { echo "bench.sh: $bin/$b is missing (build the '$preset' preset)" >&2; exit 1; }
done

echo "== micro-benchmarks (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
micro_args=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
((smoke)) && micro_args=(--benchmark_min_time=0.01)
"$bin/l0l3_bench_micro" "${micro_args[@]}" --benchmark_out="$out/micro.csv" --benchmark_out_format=csv \
  | tee "$out/micro.txt" >&2

# The CSV's header line comes after the context lines; columns are looked up by name.
micro_table() {
  awk -F',' '
    /^name,/ { for (i = 1; i <= NF; i++) col[$i] = i; header = 1; next }
    !header { next }
    {
      name = $col["name"]; gsub(/"/, "", name)
      if (name ~ /_(mean|stddev|cv)$/) next
      sub(/_median$/, "", name)
      unit = $col["time_unit"]; cpu = $col["cpu_time"]
      ns = cpu * (unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : 1)
      items = $col["items_per_second"]
      rate = items == "" ? "" : items >= 1e6 ? sprintf("%.2f M/s", items / 1e6) : sprintf("%.1f k/s", items / 1e3)
      printf "| %s | %.1f | %s |\n", name, ns, rate
    }' "$1"
}

echo "== HTTP benchmark" >&2
http_args=(--bin-dir "$bin" --out "$out/http")
((smoke)) && http_args+=(--smoke)
bash bench/http/run.sh "${http_args[@]}" >"$out/http.txt"

# Control-plane benchmarks: bench/<name>/run.sh --bin-dir DIR --out DIR [--smoke]
# prints a markdown section (its own table) on stdout.
extra=()
for name in propagation console; do
  script=bench/$name/run.sh
  [[ -f $script ]] || continue
  echo "== $name benchmark" >&2
  args=(--bin-dir "$bin" --out "$out/$name")
  ((smoke)) && args+=(--smoke)
  bash "$script" "${args[@]}" >"$out/$name.txt"
  extra+=("$out/$name.txt")
done

{
  echo "# L0L3 benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  if ((smoke)); then echo "## Micro (smoke: one short run each)"; else echo "## Micro (median of 3 repetitions)"; fi
  echo
  echo "| benchmark | ns/item | items/s |"
  echo "|---|---:|---:|"
  micro_table "$out/micro.csv"
  echo
  echo "## HTTP (wrk -t1 keep-alive POST, medians)"
  echo
  cat "$out/http.txt"
  for f in "${extra[@]}"; do
    echo
    cat "$f"
  done
} >"$out/report.md"
cat "$out/report.md"
echo
echo "report: $out/report.md"
