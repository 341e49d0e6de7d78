# Sourced by bench/<name>/run.sh: the options every control-plane benchmark
# runner takes, [--smoke] [--bin-dir DIR] [--out DIR] [-- extra args].
# bench_parse NAME "$@" sets bin (build/default/bin), out (a fresh
# build/bench-results/NAME-<time> unless given; created), exe (bin/EXE, must
# exist) and args (--smoke and the extra args, for the benchmark program).
bench_parse() {
  local name=$1 program=$2; shift 2
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  bin=$repo/build/default/bin
  out=""
  args=()
  while (($#)); do
    case $1 in
      --smoke) args+=(--smoke) ;;
      --bin-dir) bin=$2; shift ;;
      --out) out=$2; shift ;;
      --) shift; args+=("$@"); break ;;
      -h|--help) sed -n '2,12p' "$0" | sed -n '/^#/!q;p' | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "$name/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
  [[ -n $out ]] || out=$repo/build/bench-results/$name-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$out"
  exe=$bin/$program
  [[ -x $exe ]] || { echo "$name/run.sh: $exe is missing (build target $program)" >&2; exit 1; }
  export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
}
