#!/usr/bin/env bash
# Install the project with its dev extra into .venv and run the tests.
#   scripts/test.sh            fast suite (the default, what CI runs)
#   scripts/test.sh --slow     fast suite, then the slow tests as a second step
#   scripts/test.sh -- ARGS    pass ARGS to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
run_slow=0
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --slow) run_slow=1 ;;
        --) shift; pytest_args+=("$@"); break ;;
        *) pytest_args+=("$1") ;;
    esac
    shift
done
source scripts/_venv.sh dev
echo "[ssl-skel] lint and format check (ruff)"
"$PY" -m ruff check --quiet .
"$PY" -m ruff format --check --quiet .
echo "[ssl-skel] fast tests"
"$PY" -m pytest -q ${pytest_args[@]+"${pytest_args[@]}"}
if [ "$run_slow" = 1 ]; then
    echo "[ssl-skel] slow tests"
    set +e
    "$PY" -m pytest -q -m slow ${pytest_args[@]+"${pytest_args[@]}"}
    rc=$?
    set -e
    # exit code 5 means no test was collected: not a failure of the slow step
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
fi
