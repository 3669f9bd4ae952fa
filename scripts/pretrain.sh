#!/usr/bin/env bash
# Self-supervised pretraining from a preset, launched by torchrun.
#   scripts/pretrain.sh <preset> [--resume auto|none|PATH] [key=value ...]
#   e.g. scripts/pretrain.sh synthetic
#        NPROC=4 scripts/pretrain.sh ntu60_xsub train.epochs=100
# Environment:
#   NPROC          processes on this machine (default: all visible GPUs, or 1 without CUDA)
#   NNODES         machines taking part (default 1); with NNODES > 1 also set
#   RDZV_ENDPOINT  host:port every machine can reach (torchrun's c10d rendezvous)
#   RDZV_ID        rendezvous name shared by the machines (default: ssl-skel-<preset>)
# Uses .venv/bin/python when present; everything else is `ssl-skel pretrain`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -lt 1 ] && exit 2 || exit 0
fi
preset="$1"; shift
PY="python3"
[ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"
nproc="${NPROC:-}"
if [ -z "$nproc" ]; then
    nproc="$("$PY" -c 'import torch; print(max(1, torch.cuda.device_count()))')"
fi
nnodes="${NNODES:-1}"
if [ "$nnodes" -gt 1 ]; then
    if [ -z "${RDZV_ENDPOINT:-}" ]; then
        echo "scripts/pretrain.sh: NNODES=$nnodes needs RDZV_ENDPOINT=host:port (reachable from every machine)" >&2
        exit 2
    fi
    launch=(--nnodes "$nnodes" --rdzv-backend c10d --rdzv-endpoint "$RDZV_ENDPOINT" --rdzv-id "${RDZV_ID:-ssl-skel-$preset}")
else
    launch=(--standalone --nnodes 1)
fi
exec "$PY" -m torch.distributed.run "${launch[@]}" --nproc-per-node "$nproc" -m ssl_skel.cli pretrain --config "$preset" "$@"
