#!/usr/bin/env bash
# Linear probe of a pretrained run, as UmURL's script_action_recognition.sh.
#   scripts/action_recognition.sh <run dir> <dataset> <protocol> [extra args / key=value ...]
#   e.g. scripts/action_recognition.sh runs/ntu60_xsub ntu60 xsub
#        scripts/action_recognition.sh runs/synthetic synthetic xview eval.linear_epochs=50
# <protocol>: xsub | xview | xset (UmURL's cross_subject | cross_view | cross_setup also work).
# Data: configs/<dataset>_<protocol>.yaml when it exists, else the run's stored config with
# --benchmark <protocol>. Results: <run dir>/eval/linear_<protocol>/results.json
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${MODE:-linear}"
if [ $# -lt 3 ]; then
    echo "usage: $(basename "$0") <run dir> <dataset> <protocol> [extra args]" >&2
    exit 2
fi
RUN="$1"; DATASET="$2"; PROTOCOL="$3"; shift 3
case "$PROTOCOL" in
    cross_subject) PROTOCOL=xsub ;;
    cross_view) PROTOCOL=xview ;;
    cross_setup) PROTOCOL=xset ;;
esac
CKPT="$RUN"
[ -d "$RUN" ] && CKPT="$RUN/last.pt"
if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else source "$ROOT/scripts/_venv.sh" ""; fi
PRESET="$ROOT/configs/${DATASET}_${PROTOCOL}.yaml"
DATA_ARGS=(--benchmark "$PROTOCOL")
[ -f "$PRESET" ] && DATA_ARGS=(--config "$PRESET")
exec "$PY" -m ssl_skel.cli "$MODE" --checkpoint "$CKPT" "${DATA_ARGS[@]}" "$@"
