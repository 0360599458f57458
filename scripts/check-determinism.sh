#!/usr/bin/env bash
# Same verdicts every time.
#
# Runs the scenario suite
#   1. in file order (the reference),
#   2. in random orders (pytest-randomly, seeds SEED+1, SEED+2, ...),
#   3. again in file order, optionally spread over xdist workers,
#   4. each scenario alone, in its own process,
# (REPEATS whole-suite runs in all, at least 5), then compares every run's
# verdict document with the reference (scripts/compare_verdicts.py): same
# verdict, claims, trials and fault space for every scenario.
#
#   scripts/check-determinism.sh [-r REPEATS] [-j JOBS] [-s SEED]
#                                [-H HARNESS_SEED] [-o DIR] [--strict]
#                                [--no-alone] [-- PYTEST_ARGS...]
#
#   -r  whole-suite runs (default 5, minimum 5)
#   -j  processes: xdist workers for the last whole-suite run and parallel
#       "alone" runs (default 2)
#   -s  order seed (default: random); printed, and reusable to replay
#   -H  --harness-seed for every run (default: none, the deterministic mode)
#   -o  where the verdict documents go (default runs/determinism-<time>)
#   --strict    also compare evidence (variant, stage, invariant)
#   --no-alone  skip the one-process-per-scenario runs
#   PYTEST_ARGS e.g. -k migration, to check a subset
#
# Exit status 0 when every run agrees, 1 when one differs, 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
REPEATS=5 JOBS=2 SEED="" HSEED="" OUT="" STRICT="" ALONE=1
while [ $# -gt 0 ]; do
    case "$1" in
        -r) REPEATS=$2; shift 2 ;;
        -j) JOBS=$2; shift 2 ;;
        -s) SEED=$2; shift 2 ;;
        -H) HSEED=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        --strict) STRICT=--strict; shift ;;
        --no-alone) ALONE=0; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
EXTRA=("$@")
[ "$REPEATS" -ge 5 ] || { echo "-r: at least 5 runs" >&2; exit 2; }
SEED=${SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}
OUT=${OUT:-runs/determinism-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
HARGS=()
[ -n "$HSEED" ] && HARGS=(--harness-seed "$HSEED")
BASE=(-m pytest scenarios -q -p no:cacheprovider -o console_output_style=classic
      --show-capture=no "${HARGS[@]}" "${EXTRA[@]}")

echo "determinism check: $REPEATS whole-suite runs, order seed $SEED," \
     "harness seed ${HSEED:-none}; documents in $OUT"
echo "replay: $0 -r $REPEATS -j $JOBS -s $SEED ${HSEED:+-H $HSEED} -- ${EXTRA[*]}"

run() {  # run NAME ARGS... : one whole-suite run
    local name=$1; shift
    local start=$SECONDS
    "$PY" "${BASE[@]}" --verdicts-json "$OUT/$name.json" "$@" \
        > "$OUT/$name.log" 2>&1
    echo "  $name: pytest exit $?, $((SECONDS - start))s"
}

run ordered -p no:randomly
docs=()
n_random=$(( REPEATS - 2 ))
for i in $(seq 1 "$n_random"); do
    run "random-$((SEED + i))" -p randomly \
        --randomly-seed="$((SEED + i))"
    docs+=("$OUT/random-$((SEED + i)).json")
done
if [ "$JOBS" -gt 1 ]; then
    run "ordered-xdist$JOBS" -p no:randomly -n "$JOBS"
    docs+=("$OUT/ordered-xdist$JOBS.json")
else
    run ordered-again -p no:randomly
    docs+=("$OUT/ordered-again.json")
fi

if [ "$ALONE" = 1 ]; then
    start=$SECONDS
    "$PY" scripts/run_alone.py "$OUT/alone" --jobs "$JOBS" \
        -- "${HARGS[@]}" "${EXTRA[@]}" | sed 's/^/  alone: /'
    echo "  alone: $((SECONDS - start))s"
    docs+=("$OUT/alone.json")
fi

echo
"$PY" scripts/compare_verdicts.py $STRICT "$OUT/ordered.json" "${docs[@]}"
status=$?
if [ $status = 0 ]; then
    echo "SAME VERDICTS in every run (order seed $SEED)"
else
    echo "VERDICTS DIFFER (order seed $SEED: replay with -s $SEED)"
fi
exit $status
