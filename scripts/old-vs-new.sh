#!/usr/bin/env bash
# CPU per world, operation and trial: this tree against the tree at REV
# (default 3f4cb00, the last commit with the hand-written world), in one
# run, on the same Nova (the harness environment's).
#   scripts/old-vs-new.sh [REV] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-3f4cb00}
rounds=${2:-5}
py=${PYTHON:-.tox/harness/bin/python}
old=$(mktemp -d)
trap 'git worktree remove --force "$old" >/dev/null 2>&1 || true' EXIT
git worktree add -q --detach "$old" "$rev"
export OS_NOVA_DISABLE_EVENTLET_PATCHING=1 PYTHONHASHSEED=0
echo "old ($rev):"
PYTHONPATH="$old" "$py" benchmarks/ops_cost.py "$rounds" 2>/dev/null | tail -1
echo "new ($(git rev-parse --short HEAD)):"
PYTHONPATH="$PWD" "$py" benchmarks/ops_cost.py "$rounds" 2>/dev/null | tail -1
