# Shared by the packaging checks (sourced, not run). The caller sets
# check_name (the prefix of every message) and scale (L0L3_TIME_SCALE)
# before sourcing; this creates $work, a temporary directory removed on
# exit together with every process whose pid was appended to pids.
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n ${L0L3_KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
# fail MESSAGE: say why, show the end of every log under $work, exit 1.
fail() {
    echo "$check_name: $*" >&2
    for log in "$work"/*.log; do
        [[ -s $log ]] && tail -40 "$log" | sed "s|^|$check_name: $(basename "$log"): |" >&2
    done
    exit 1
}
# poll TENTHS COMMAND...: until COMMAND succeeds, at most TENTHS x 0.1 s (times L0L3_TIME_SCALE).
poll() {
    local n
    n=$(awk -v t="$1" -v s="$scale" 'BEGIN { print int(t * s) }')
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}
# stop_checked NAME PID: SIGTERM, and it must exit 0 (and still be running until then).
stop_checked() {
    kill -TERM "$2" 2>/dev/null || fail "$1 exited before it was stopped"
    local rc=0
    wait "$2" || rc=$?
    [[ $rc -eq 0 ]] || fail "$1 exited with $rc after SIGTERM"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
