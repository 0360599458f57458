#!/usr/bin/env bash
# Wall time of the whole scenario suite, serial and with pytest-xdist.
#
#   scripts/suite-time.sh [-j JOBS] [-o DIR] [-- PYTEST_ARGS...]
#
# Runs `python -m pytest scenarios` once serially and once with `-n JOBS`
# (default 2), prints both wall times (and the CPU time of the serial run)
# and checks that both runs reached the same verdicts.  Results (verdict
# documents, logs, a timings.json) go to DIR (default runs/suite-time-<time>).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
JOBS=2 OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        -j) JOBS=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-runs/suite-time-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
ARGS=(-m pytest scenarios -q -p no:cacheprovider -p no:randomly
      -o console_output_style=classic --show-capture=no "$@")

timed() {  # timed NAME ARGS...: prints "wall cpu"
    local name=$1; shift
    "$PY" - "$OUT/$name" "$PY" "${ARGS[@]}" --verdicts-json "$OUT/$name.json" "$@" <<'PYEOF'
import resource, subprocess, sys, time
log, cmd = sys.argv[1], sys.argv[2:]
t = time.monotonic()
with open(log + ".log", "w") as f:
    rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.1f %.1f %d" % (wall, ru.ru_utime + ru.ru_stime, rc))
PYEOF
}

echo "scenario suite timing; documents in $OUT"
read -r s_wall s_cpu s_rc < <(timed serial)
echo "  serial:      wall ${s_wall}s  cpu ${s_cpu}s  (pytest exit $s_rc)"
read -r p_wall p_cpu p_rc < <(timed "xdist$JOBS" -n "$JOBS")
echo "  -n $JOBS:        wall ${p_wall}s  cpu ${p_cpu}s  (pytest exit $p_rc)"
"$PY" - "$s_wall" "$p_wall" <<'PYEOF'
import sys
s, p = map(float, sys.argv[1:])
print("  speed-up:    %.2fx" % (s / p if p else float("nan")))
PYEOF
cat > "$OUT/timings.json" <<JSON
{"serial": {"wall": $s_wall, "cpu": $s_cpu, "exit": $s_rc},
 "xdist": {"jobs": $JOBS, "wall": $p_wall, "cpu": $p_cpu, "exit": $p_rc},
 "nproc": $(nproc), "loadavg_after": "$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
"$PY" scripts/compare_verdicts.py "$OUT/serial.json" "$OUT/xdist$JOBS.json"
